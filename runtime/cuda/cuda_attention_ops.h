// runtime/cuda/cuda_attention_ops.h — CudaAttentionOps<T>: RoPE and causal GQA attention on one GPU.
#pragma once
#include <memory>

#include "runtime/cuda/cuda_core_ops.h"
#include "runtime/ops/attention_ops.h"

namespace sy {

// Same semantics as CpuAttentionOps.  Blocked flash attention: no S×S matrix,
// an online softmax forward, probabilities recomputed from lse in the backward.
// A block of 4 warps takes 4 consecutive rows of one head (a warp per row, the
// row's vectors spread over the lanes); the other operand's rows stream through
// shared memory 16 at a time.  The backward is deterministic (no atomics): one
// pass per query row for dq, one per key row for dk and dv.  fp32 CUDA cores,
// no tensor cores.  Head size D ≤ kMaxHeadSize.
template <class T>
class CudaAttentionOps final : public AttentionOps<T> {
 public:
  static constexpr int64_t kMaxHeadSize = 256;

  explicit CudaAttentionOps(std::shared_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}

  void rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x) const override;
  void rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* dx) const override;
  void attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                         const T* v, T* out, T* lse) const override;
  void attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                          const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk,
                          T* dv) const override;

 private:
  std::shared_ptr<CudaContext> ctx_;
};

}  // namespace sy
