// runtime/cpu/dnnl_gemm.h — DnnlGemm: row-major float GEMMs as cached oneDNN matmul primitives, fp32 or bf16 compute.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/cpu/bf16_weight_cache.h"

namespace sy {

// Below this many FLOPs a GEMM runs on the calling thread alone: the router's
// GEMMs (2048×E×d, E = 16–32: 33–67 MFLOP) split over 2 threads took 9–12 ms
// each on the loaded machine (ONEDNN_VERBOSE), waiting at OpenMP barriers for a
// descheduled thread; on one thread the whole router phase of a bench-olmoe
// step fell from 113–143 to 30–34 ms (bench/RESULTS.md, "fp32 MFU work").
constexpr double kSingleThreadFlops = 1e8;

// C[M,N] = alpha·op(A)·op(B) + beta·C with CoreOps::gemm's conventions.
//
// fp32: an f32 matmul on the operands in place.  bf16: A and B are rounded to
// bf16 (round to nearest even) into per-thread scratch copies (B in the
// blocked layout the kernel reads), multiplied as bf16×bf16 with f32
// accumulation, and C stays f32 (DESIGN: bf16 compute, fp32 everything else).
//
// Primitives are created once per (shape, transposes, strides, alpha, beta,
// thread count) and cached; alpha is an output scale, beta a sum post-op.
// Callable from several threads at once (the cache is locked, the stream and
// scratchpad are per thread); inside an OpenMP parallel region, and below
// 1e8 FLOPs (kSingleThreadFlops), a GEMM runs on the calling thread alone.
class DnnlGemm {
 public:
  // Expert GEMMs change their row count with the routing every step, so a long
  // run meets many shapes; past `max_cached_shapes`, a primitive is created for
  // the call and dropped (slower, but memory stays bounded over a week-long run).
  explicit DnnlGemm(bool bf16, size_t max_cached_shapes = 4096);
  ~DnnlGemm();
  DnnlGemm(const DnnlGemm&) = delete;
  DnnlGemm& operator=(const DnnlGemm&) = delete;

  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const;

  bool bf16() const { return bf16_; }

  // bf16: packed copies of the registered weights, used instead of packing a
  // GEMM's B operand when it is one of them (the results are bit-identical).
  Bf16WeightCache& weights() const { return *weights_; }

 private:
  struct Cache;
  struct Bound;
  static Bound& bound_args(uint64_t instance, const void* entry);
  static Bound make_bound(const void* entry);
  bool bf16_;
  uint64_t instance_;
  size_t max_cached_shapes_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Bf16WeightCache> weights_;
};

// True on this thread while oneDNN creates or executes a primitive.  oneDNN
// builds a small argument map inside every execution, and creating a primitive
// for a new shape (an expert GEMM with a row count not met before) allocates:
// library internals we cannot pre-allocate.  tests/unit/steady_state_alloc_test.cpp
// counts those apart from allocations of our own code, which must be zero.
bool inside_dnnl_execute();

// Whether oneDNN has its AVX-512 (brgemm) kernels on this CPU; without them
// every f32 matmul is its generic jit sgemm.
bool dnnl_has_avx512_kernels();

// Threads of oneDNN's OpenMP runtime for GEMMs issued from this thread (≤ 0: leave the default).
void set_dnnl_threads(int threads);

}  // namespace sy
