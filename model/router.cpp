// model/router.cpp — Router<T> forward (noise, softmax, top-k) and backward (gates, aux, z through the softmax).
#include "model/router.h"

#include "runtime/rng.h"

namespace sy {

namespace {
constexpr uint64_t kRouterNoiseDomain = fnv1a("switchyard/router_noise");
}  // namespace

uint64_t router_noise_key(const StepContext& ctx, int layer, int64_t row) {
  const uint64_t token = static_cast<uint64_t>(ctx.first_sample * ctx.seq_len + row);
  return mix64(mix64(mix64(kRouterNoiseDomain, static_cast<uint64_t>(ctx.step)), static_cast<uint64_t>(layer)),
               token);
}

template <class T>
Router<T>::Router(ParameterSet<T>& params, const std::string& prefix, int layer, int64_t d_model,
                  const MoeConfig& moe)
    : layer_(layer),
      d_model_(d_model),
      num_experts_(moe.num_experts),
      top_k_(moe.top_k),
      normalize_(moe.normalize_topk),
      noise_(moe.router_noise),
      jitter_eps_(moe.jitter_eps) {
  weight_ = &params.add(prefix + "/wg/weight", {int64_t(num_experts_), d_model}, InitSpec::Normal(), true);
  if (moe.bias_update_rate > 0) {
    expert_bias_ = &params.add(prefix + "/expert_bias", {int64_t(num_experts_)}, InitSpec::Zeros(), false);
    expert_bias_->trainable = false;
  }
}

template <class T>
void Router<T>::forward(const Backend<T>& be, const StepContext& ctx, const T* u, int64_t N,
                        RouterActivations<T>& acts) const {
  const int64_t E = num_experts_, d = d_model_;
  acts.tokens = N;
  acts.jittered = ctx.training && noise_ == RouterNoise::jitter;
  if (acts.jittered) {
    acts.jitter.resize({N, d});
    acts.input.resize({N, d});
    for (int64_t n = 0; n < N; ++n) {
      Rng rng(ctx.seed, router_noise_key(ctx, layer_, n));
      T* m = acts.jitter.data() + n * d;
      for (int64_t c = 0; c < d; ++c) m[c] = static_cast<T>(1.0 - jitter_eps_ + 2.0 * jitter_eps_ * rng.uniform());
    }
    be.moe->router_jitter(N * d, u, acts.jitter.data(), acts.input.data());
  }
  const T* x = acts.router_input(u);
  acts.logits.resize({N, E});
  acts.probs.resize({N, E});
  acts.lse.resize({N});
  be.core->gemm(false, true, N, E, d, T(1), x, d, weight_->value.data(), d, T(0), acts.logits.data(), E);
  be.moe->router_softmax(N, E, acts.logits.data(), acts.probs.data(), acts.lse.data());

  const T* select = acts.probs.data();
  if (ctx.training && noise_ == RouterNoise::gumbel) {
    // Selection sees softmax(r + g); the noisy logits live in `select` until the softmax overwrites them in place.
    acts.select.resize({N, E});
    for (int64_t n = 0; n < N; ++n) {
      Rng rng(ctx.seed, router_noise_key(ctx, layer_, n));
      T* s = acts.select.data() + n * E;
      const T* r = acts.logits.data() + n * E;
      for (int64_t e = 0; e < E; ++e) s[e] = r[e] + static_cast<T>(rng.gumbel());
    }
    be.moe->router_softmax(N, E, acts.select.data(), acts.select.data(), nullptr);
    select = acts.select.data();
  }
  acts.expert.resize({N, top_k_});
  acts.gate.resize({N, top_k_});
  be.moe->router_topk(N, E, top_k_, acts.probs.data(), select, expert_bias_ ? expert_bias_->value.data() : nullptr,
                      normalize_, acts.expert.data(), acts.gate.data());
}

template <class T>
void Router<T>::backward(const Backend<T>& be, const T* u, const T* dgate, const T* aux_dprob, T z_scale, T* du,
                         RouterActivations<T>& acts) const {
  const int64_t N = acts.tokens, E = num_experts_, d = d_model_;
  acts.dlogits.resize({N, E});
  be.moe->router_backward(N, E, top_k_, acts.probs.data(), acts.lse.data(), acts.expert.data(), dgate, normalize_,
                          aux_dprob, z_scale, acts.dlogits.data());
  const T* x = acts.router_input(u);
  be.core->gemm(true, false, E, d, N, T(1), acts.dlogits.data(), E, x, d, T(1), weight_->grad.data(), d);
  be.core->gemm(false, false, N, d, E, T(1), acts.dlogits.data(), E, weight_->value.data(), d, T(0), du, d);
  // u' = u ⊙ m, so ∂/∂u = ∂/∂u' ⊙ m.
  if (acts.jittered) be.moe->router_jitter(N * d, du, acts.jitter.data(), du);
}

template class Router<float>;
template class Router<double>;

}  // namespace sy
