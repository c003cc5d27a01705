// runtime/cpu/cpu_nn_ops.h — CpuNnOps<T>: NnOps on the host.
#pragma once
#include "runtime/ops/nn_ops.h"

namespace sy {

template <class T>
class CpuNnOps final : public NnOps<T> {
 public:
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
  double cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                       T* dlogits) const override;
};

}  // namespace sy
