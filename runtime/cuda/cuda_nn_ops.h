// runtime/cuda/cuda_nn_ops.h — CudaNnOps<T>: embeddings, positions, norms, activations, cross-entropy on one GPU.
#pragma once
#include <memory>

#include "runtime/cuda/cuda_core_ops.h"
#include "runtime/ops/nn_ops.h"

namespace sy {

// Same semantics as CpuNnOps (runtime/ops/nn_ops.h); arithmetic in float.  Norm
// statistics are one block per row; parameter gradients (dw, db, positions) are one
// thread per column summing rows in order (deterministic); embedding_backward
// uses atomics (the order of repeated ids is not fixed).
template <class T>
class CudaNnOps final : public NnOps<T> {
 public:
  explicit CudaNnOps(std::shared_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}

  void embedding_forward(int64_t N, int64_t d, const int32_t* ids, const T* table, T scale, T* out) const override;
  void embedding_backward(int64_t N, int64_t d, const int32_t* ids, const T* dout, T scale, T* dtable) const override;
  void add_positions(int64_t B, int64_t T_, int64_t d, const T* table, int64_t offset, T* h) const override;
  void positions_backward(int64_t B, int64_t T_, int64_t d, const T* dh, int64_t offset, T* dtable) const override;
  void layernorm_forward(int64_t N, int64_t d, const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                         T* rstd) const override;
  void layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd, const T* dy,
                          T* dx, T* dw, T* db) const override;
  void rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const override;
  void rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                        T* dw) const override;
  void gelu_forward(int64_t n, const T* x, T* y) const override;
  void gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const override;
  void relu_forward(int64_t n, const T* x, T* y) const override;
  void relu_backward(int64_t n, const T* x, const T* dy, T* dx) const override;
  void swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const override;
  void swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const override;
  // Rows' losses are computed in float on the device and summed in double on the host.
  double cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                       T* dlogits) const override;

 private:
  std::shared_ptr<CudaContext> ctx_;
};

}  // namespace sy
