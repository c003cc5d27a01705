// runtime/backend.h — Backend<T>: the kernel interface model code calls, one op group per header.
//
// A backend is a set of op-group objects (ggml style: an interface, not #ifdefs).
// runtime/cpu/ implements every group for the CPU; runtime/cuda/ will implement
// the same groups.  Model code includes only this header, never a backend's files.
#pragma once
#include <memory>
#include <string>

#include "runtime/config.h"
#include "runtime/ops/attention_ops.h"
#include "runtime/ops/core_ops.h"
#include "runtime/ops/moe_ops.h"
#include "runtime/ops/nn_ops.h"

namespace sy {

template <class T>
struct Backend {
  std::string name;
  std::unique_ptr<CoreOps<T>> core;       // GEMM, elementwise, AdamW
  std::unique_ptr<NnOps<T>> nn;           // embeddings, norms, activations, cross-entropy
  std::unique_ptr<AttentionOps<T>> attn;  // RoPE, causal attention
  std::unique_ptr<MoeOps<T>> moe;         // router, permutation, weighted combine
};

// The CPU backend: oneDNN (float) / OpenBLAS (double) GEMMs and vectorised loops;
// `threads` ≤ 0 leaves the libraries' defaults.  `precision` = bf16 makes the
// float GEMMs round their inputs to bf16 (fp32 accumulation and outputs);
// every other op stays fp32.  bf16 throws ConfigError for double, or when
// oneDNN has no bf16 matmul on this CPU.
template <class T>
Backend<T> make_cpu_backend(int threads = 0, Precision precision = Precision::fp32);

}  // namespace sy
