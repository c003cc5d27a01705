// runtime/cpu/cpu_backend.cpp — assembles the CPU implementations of every op group.
#include "runtime/backend.h"
#include "runtime/cpu/cpu_attention_ops.h"
#include "runtime/cpu/cpu_core_ops.h"
#include "runtime/cpu/cpu_moe_ops.h"
#include "runtime/cpu/cpu_nn_ops.h"
#include "runtime/cpu/cpu_parallel.h"

namespace sy {

template <class T>
Backend<T> make_cpu_backend(int threads, Precision precision) {
  set_cpu_threads(threads);
  set_cpu_loop_threads(threads);
  Backend<T> be;
  be.name = precision == Precision::bf16 ? "cpu-bf16" : "cpu";
  be.core = std::make_unique<CpuCoreOps<T>>(precision, threads);
  be.nn = std::make_unique<CpuNnOps<T>>();
  be.attn = std::make_unique<CpuAttentionOps<T>>();
  be.moe = std::make_unique<CpuMoeOps<T>>();
  return be;
}

template Backend<float> make_cpu_backend<float>(int, Precision);
template Backend<double> make_cpu_backend<double>(int, Precision);

}  // namespace sy
