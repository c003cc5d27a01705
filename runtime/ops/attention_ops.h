// runtime/ops/attention_ops.h — AttentionOps<T>: rotary embeddings and causal (GQA) attention, forward and backward.
#pragma once
#include <cstdint>

namespace sy {

// B sequences of S tokens; D = head size.  Layouts (row-major, contiguous,
// device pointers of the backend — host memory for the CPU backend):
//   q, dq, out, dout   [B, S, Hq, D]    — exactly a [B·S, Hq·D] projection output
//   k, v, dk, dv       [B, S, Hkv, D]
//   lse                [B, Hq, S]
// Hq must be a multiple of Hkv: query head h reads kv head h / (Hq / Hkv) (GQA;
// Hkv == Hq is plain multi-head attention, Hkv == 1 multi-query).  The score
// scale is fixed at 1/√D (DESIGN.md §3).  Outputs must not overlap inputs.
// Implementations must not materialise an S×S matrix per head: the backward
// recomputes probabilities from `lse`.
template <class T>
class AttentionOps {
 public:
  virtual ~AttentionOps() = default;

  // Rotate-half RoPE (GPT-NeoX/LLaMA), in place on x[B, S, H, D], D even: for
  // i < D/2 the pair (x_i, x_{i+D/2}) at position t (0-based within the
  // sequence) is rotated by the angle t·θ_i, θ_i = theta^(−2i/D):
  //   x_i' = x_i cos − x_{i+D/2} sin,   x_{i+D/2}' = x_{i+D/2} cos + x_i sin.
  virtual void rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x) const = 0;
  // The adjoint (= inverse) rotation, in place on the gradient dx[B, S, H, D].
  virtual void rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* dx) const = 0;

  // Causal attention: out[b,t,h] = Σ_{s≤t} softmax_s(q[b,t,h]·k[b,s,g] / √D) · v[b,s,g],
  // g = h / (Hq/Hkv).  `out` is overwritten; lse[b,h,t] = log Σ_{s≤t} exp(q·k/√D)
  // is saved for the backward.
  virtual void attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                                 const T* v, T* out, T* lse) const = 0;

  // Gradients of the forward above given dout = ∂L/∂out; `out` and `lse` are the
  // forward's outputs.  dq, dk, dv are overwritten (not accumulated).
  virtual void attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                                  const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk,
                                  T* dv) const = 0;
};

}  // namespace sy
