// runtime/ops/nn_ops.h — NnOps<T>: embeddings, positions, norms, activations and cross-entropy kernels.
#pragma once
#include <cstdint>

namespace sy {

// Conventions: activations are [N, d] row-major (N = batch·seq_len tokens).
// Backward kernels OVERWRITE input gradients (dx) and ACCUMULATE (+=) parameter
// gradients (dw, db, dtable).
template <class T>
class NnOps {
 public:
  virtual ~NnOps() = default;

  // out[n, :] = scale · table[ids[n], :]
  virtual void embedding_forward(int64_t N, int64_t d, const int32_t* ids, const T* table, T scale,
                                 T* out) const = 0;
  // dtable[ids[n], :] += scale · dout[n, :]
  virtual void embedding_backward(int64_t N, int64_t d, const int32_t* ids, const T* dout, T scale,
                                  T* dtable) const = 0;
  // h[b, t, :] += table[t + offset, :]   (learned or sinusoidal position table)
  virtual void add_positions(int64_t B, int64_t T_, int64_t d, const T* table, int64_t offset, T* h) const = 0;
  // dtable[t + offset, :] += Σ_b dh[b, t, :]
  virtual void positions_backward(int64_t B, int64_t T_, int64_t d, const T* dh, int64_t offset,
                                  T* dtable) const = 0;

  // LayerNorm: y = (x - mean) · rstd · w + b; saves mean[N], rstd[N].
  // The norm backward kernels allow dx to alias dy (in-place).
  virtual void layernorm_forward(int64_t N, int64_t d, const T* x, const T* w, const T* b, double eps, T* y,
                                 T* mean, T* rstd) const = 0;
  virtual void layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd,
                                  const T* dy, T* dx, T* dw, T* db) const = 0;
  // RMSNorm: y = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps); saves rstd[N].
  virtual void rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const = 0;
  virtual void rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                                T* dw) const = 0;

  // Elementwise activations on n values; backward takes the forward input x.
  virtual void gelu_forward(int64_t n, const T* x, T* y) const = 0;  // exact: x·Φ(x)
  virtual void gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const = 0;
  virtual void relu_forward(int64_t n, const T* x, T* y) const = 0;
  virtual void relu_backward(int64_t n, const T* x, const T* dy, T* dx) const = 0;
  // Elementwise kernels allow in-place use (dx == x, dgate == gate, dup == up).
  // SwiGLU core: y = silu(gate) ⊙ up
  virtual void swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const = 0;
  virtual void swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const = 0;

  // Softmax cross-entropy over V classes for N rows.  Returns Σ_n CE_n (in double).
  // When dlogits is non-null it receives grad_scale · (softmax(logits) - onehot(target));
  // dlogits may alias logits (in place).
  virtual double cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                               T* dlogits) const = 0;
};

}  // namespace sy
