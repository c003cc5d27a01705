// model/attention.h — SelfAttention<T>: q/k/v projections, RoPE, causal GQA attention, output projection.
#pragma once
#include <string>

#include "model/linear.h"
#include "model/step_context.h"
#include "runtime/backend.h"
#include "runtime/config.h"
#include "runtime/parameters.h"

namespace sy {

// y = out_proj(Attn(rope(q_proj x), rope(k_proj x), v_proj x)) on activations
// [ctx.batch · ctx.seq_len, d_model] (DESIGN.md §3).  The layer keeps what its
// backward needs (post-RoPE q and k, v, the attention output, lse), so one
// object serves one micro-batch at a time: backward must follow the forward of
// the same x and ctx.
template <class T>
class SelfAttention {
 public:
  // Registers <prefix>/{q,k,v,out}_proj/{weight,bias}: q_proj [n_heads·d_head, d_model],
  // k_proj and v_proj [n_kv_heads·d_head, d_model], out_proj [d_model, n_heads·d_head];
  // biases only when cfg.bias.
  SelfAttention(ParameterSet<T>& params, const std::string& prefix, const ModelConfig& cfg);

  // y[N, d_model] (overwritten) for x[N, d_model], N = ctx.tokens().
  void forward(const Backend<T>& be, const StepContext& ctx, const T* x, T* y);
  // dx is overwritten; parameter gradients are accumulated (+=).
  void backward(const Backend<T>& be, const StepContext& ctx, const T* x, const T* dy, T* dx);

  const Linear<T>& q_proj() const { return q_proj_; }
  const Linear<T>& k_proj() const { return k_proj_; }
  const Linear<T>& v_proj() const { return v_proj_; }
  const Linear<T>& out_proj() const { return out_proj_; }

 private:
  int64_t d_model_, n_heads_, n_kv_heads_, d_head_;
  bool rope_;
  double rope_theta_;
  Linear<T> q_proj_, k_proj_, v_proj_, out_proj_;
  // Saved by forward: q, k after RoPE; lse [B, n_heads, T].
  Tensor<T> q_, k_, v_, attn_, lse_;
  // Backward scratch, kept so steady-state steps do not allocate.
  Tensor<T> d_attn_, dq_, dk_, dv_;
};

}  // namespace sy
