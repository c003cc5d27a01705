// model/router.h — Router<T>: logits, softmax, (noisy, biased) top-k selection and gate weights, and their backward.
#pragma once
#include <cstdint>
#include <string>

#include "model/step_context.h"
#include "runtime/backend.h"
#include "runtime/config.h"
#include "runtime/parameters.h"

namespace sy {

// What one router forward saves for its backward (caller-owned, like MlpActivations).
template <class T>
struct RouterActivations {
  int64_t tokens = 0;
  bool jittered = false;   // router input was u ⊙ jitter
  Tensor<T> jitter;        // [N, d] multipliers, U(1−ε, 1+ε) (jitter only)
  Tensor<T> input;         // [N, d] u ⊙ jitter (jitter only)
  Tensor<T> logits;        // [N, E] r
  Tensor<T> probs;         // [N, E] p = softmax(r)
  Tensor<T> lse;           // [N] logsumexp(r)
  Tensor<T> select;        // [N, E] softmax(r + g) (gumbel only; otherwise selection uses probs)
  Tensor<int32_t> expert;  // [N, k] chosen experts, best first
  Tensor<T> gate;          // [N, k] their gate weights
  Tensor<T> dlogits;       // [N, E] backward scratch

  const T* router_input(const T* u) const { return jittered ? input.data() : u; }
};

// The stream key of a token's router noise: a pure function of (step, layer,
// global token index = first_sample·seq_len + row), never of the world size.
// Draws come from Rng(ctx.seed, key) in order: E Gumbel(0,1) values (one per
// expert) for `gumbel`, or d uniforms mapped to 1 − ε + 2ε·U for `jitter`.
uint64_t router_noise_key(const StepContext& ctx, int layer, int64_t row);

// Router (DESIGN.md §3), always in the layer's T (fp32 for training), no bias:
//   r = u'·Wgᵀ with u' = u, or u ⊙ U(1−ε, 1+ε) under `jitter` (training only);
//   p = softmax(r);
//   K(t) = top-k of  s_e + b_e, s = p, or s = softmax(r + g), g ~ Gumbel(0,1) i.i.d.
//          per (token, expert) under `gumbel` (training only); b = the loss-free
//          balancing bias (zero unless enabled); ties → lower index;
//   gate_e = p_e (never the noisy or biased score), divided by Σ_{K(t)} p when normalize_topk.
template <class T>
class Router {
 public:
  Router() = default;
  // Registers `<prefix>/wg/weight` [E, d] and, when bias_update_rate > 0, the
  // non-trainable buffer `<prefix>/expert_bias` [E] (zeros, no weight decay).
  Router(ParameterSet<T>& params, const std::string& prefix, int layer, int64_t d_model, const MoeConfig& moe);

  void forward(const Backend<T>& be, const StepContext& ctx, const T* u, int64_t N, RouterActivations<T>& acts) const;

  // du (overwritten) and dWg (accumulated) for the upstream gradient
  //   dgate [N, k]  +  aux_dprob[e] on every p[n, e] (may be null)  +  z_scale on every lse[n]².
  void backward(const Backend<T>& be, const T* u, const T* dgate, const T* aux_dprob, T z_scale, T* du,
                RouterActivations<T>& acts) const;

  int num_experts() const { return num_experts_; }
  int top_k() const { return top_k_; }
  Parameter<T>* weight() const { return weight_; }
  Parameter<T>* expert_bias() const { return expert_bias_; }

 private:
  int layer_ = 0;
  int64_t d_model_ = 0;
  int num_experts_ = 0, top_k_ = 0;
  bool normalize_ = false;
  RouterNoise noise_ = RouterNoise::none;
  double jitter_eps_ = 0;
  Parameter<T>* weight_ = nullptr;
  Parameter<T>* expert_bias_ = nullptr;
};

}  // namespace sy
