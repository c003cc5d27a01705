// model/moe_layer.cpp — MoeLayer<T> forward and backward.
#include "model/moe_layer.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace sy {

template <class T>
MoeLayer<T>::MoeLayer(ParameterSet<T>& params, const std::string& prefix, int layer, const ModelConfig& model,
                      const MoeConfig& moe, int ep_rank, int ep_size)
    : layer_(layer),
      d_model_(model.d_model),
      num_experts_(moe.num_experts),
      top_k_(moe.top_k),
      ep_rank_(ep_rank),
      ep_size_(ep_size),
      cfg_(moe) {
  if (num_experts_ <= 0) throw ConfigError("moe.num_experts must be positive (layer " + std::to_string(layer) + ")");
  if (top_k_ <= 0 || top_k_ > num_experts_) throw ConfigError("moe.top_k must be in [1, moe.num_experts]");
  if (ep_size <= 0 || num_experts_ % ep_size != 0) throw ConfigError("parallel.ep must divide moe.num_experts");
  SY_ASSERT(ep_rank >= 0 && ep_rank < ep_size, "EP rank out of range");
  const int64_t d_expert = moe.d_expert > 0 ? moe.d_expert : model.d_ff;

  router_ = Router<T>(params, prefix + "/gate", layer, d_model_, moe);
  const int L = num_experts_ / ep_size;
  for (int j = 0; j < L; ++j) {
    const int g = ep_rank * L + j;
    experts_.emplace_back(params, prefix + "/experts/" + std::to_string(g), d_model_, d_expert, model.activation,
                          model.bias, ExpertTag{layer, g});
  }
  for (int s = 0; s < moe.shared_experts; ++s)
    shared_.emplace_back(params, prefix + "/shared_experts/" + std::to_string(s), d_model_, d_expert,
                         model.activation, model.bias);
  expert_acts_.resize(L);
  shared_acts_.resize(shared_.size());
  step_counts_.assign(num_experts_, 0);
}

template <class T>
void MoeLayer<T>::forward(const Backend<T>& be, const StepContext& ctx, const T* u, T* y, Dispatcher<T>& dispatcher) {
  SY_ASSERT(dispatcher.ep_size() == ep_size_ && dispatcher.ep_rank() == ep_rank_,
            "dispatcher EP group does not match the layer's");
  const int64_t N = ctx.tokens(), d = d_model_, E = num_experts_, k = top_k_;
  tokens_ = N;

  // 1. Route.
  router_.forward(be, ctx, u, N, router_acts_);
  const int64_t capacity = ctx.training ? expert_capacity(cfg_.capacity_factor, N, top_k_, num_experts_) : 0;
  plan_ = build_dispatch_plan(router_acts_.expert.data(), N, top_k_, num_experts_, capacity, ep_size_);

  // 2. Statistics: f (before drops) and P, averaged over all ranks' micro-batches for scope global.
  std::vector<double> fp(2 * E + 1);
  double lse_sq = 0, entropy = 0;
  be.moe->router_statistics(N, E, router_acts_.probs.data(), router_acts_.lse.data(), fp.data() + E, &lse_sq,
                            &entropy);
  for (int64_t e = 0; e < E; ++e) {
    fp[e] = N ? double(plan_.counts_before_drop[e]) / double(N * k) : 0.0;
    fp[E + e] = N ? fp[E + e] / double(N) : 0.0;
  }
  fp[2 * E] = 1.0;  // after the sum: the number of micro-batches averaged
  // Eval reports the micro-batch's own aux and skips the collective: an evaluating
  // rank must not wait on ranks that are not evaluating.
  if (cfg_.aux_loss_scope == AuxScope::global && ctx.training) dispatcher.allreduce_sum(fp.data(), 2 * E + 1);
  stats_.aux = 0;
  aux_dprob_unit_.assign(E, T(0));
  for (int64_t e = 0; e < E; ++e) {
    const double f = fp[e] / fp[2 * E], P = fp[E + e] / fp[2 * E];
    stats_.aux += double(E) * f * P;
    aux_dprob_unit_[e] = N ? static_cast<T>(double(E) * f / double(N)) : T(0);
  }
  stats_.z = N ? lse_sq / double(N) : 0.0;
  stats_.router_entropy = N ? entropy / double(N) : 0.0;
  stats_.expert_counts = plan_.counts_before_drop;
  stats_.assignments = plan_.assignments();
  stats_.dropped = plan_.dropped;
  stats_.dropped_frac = plan_.dropped_fraction();
  if (ctx.training)
    for (int64_t e = 0; e < E; ++e) step_counts_[e] += plan_.counts_before_drop[e];

  // 3. Permute, send to the owning ranks, run the local experts, bring the outputs back.
  const int64_t M = plan_.rows();
  layout_ = dispatcher.exchange_counts(plan_);
  sorted_in_.resize({M, d});
  be.moe->gather_rows(M, d, plan_.row_token.data(), u, sorted_in_.data());
  recv_ = dispatcher.dispatch(layout_, d, sorted_in_.data(), recv_buf_);
  expert_out_.resize({layout_.recv_rows(), d});
  for (int j = 0; j < local_experts(); ++j) {
    const int64_t rows = layout_.expert_counts[j], off = layout_.expert_offsets[j];
    if (rows == 0) continue;  // still took part in the exchange; nothing to compute
    experts_[j].forward(be, recv_ + off * d, rows, expert_out_.data() + off * d, expert_acts_[j]);
  }
  back_ = dispatcher.combine(layout_, d, expert_out_.data(), back_buf_);

  // 4. y = shared experts + Σ gate · expert output (dropped assignments add nothing).
  if (shared_.empty()) {
    std::fill(y, y + N * d, T(0));
  } else {
    shared_[0].forward(be, u, N, y, shared_acts_[0]);
    shared_out_.resize({N, d});
    for (size_t s = 1; s < shared_.size(); ++s) {
      shared_[s].forward(be, u, N, shared_out_.data(), shared_acts_[s]);
      be.core->add(N * d, y, shared_out_.data(), y);
    }
  }
  be.moe->combine_rows(M, d, plan_.row_token.data(), plan_.row_assignment.data(), router_acts_.gate.data(), back_, y);
}

template <class T>
void MoeLayer<T>::backward(const Backend<T>& be, const StepContext& ctx, const T* u, const T* dy, T* du,
                           Dispatcher<T>& dispatcher) {
  const int64_t N = tokens_, d = d_model_, E = num_experts_, M = plan_.rows();
  SY_ASSERT(N == ctx.tokens(), "MoE backward on a different micro-batch than its forward");

  // Through the weighted un-permute: row gradients and gate gradients (zero for dropped assignments).
  dgate_.resize({N, top_k_});
  d_back_.resize({M, d});
  be.moe->combine_rows_backward(M, d, plan_.row_token.data(), plan_.row_assignment.data(), router_acts_.gate.data(),
                                back_, dy, d_back_.data(), dgate_.data());

  // Back through the exchange and the experts.  back_buf_ is free once back_ has been
  // read, recv_buf_ once the experts' backward has read recv_.
  const T* d_out = dispatcher.combine_backward(layout_, d, d_back_.data(), back_buf_);
  d_recv_.resize({layout_.recv_rows(), d});
  for (int j = 0; j < local_experts(); ++j) {
    const int64_t rows = layout_.expert_counts[j], off = layout_.expert_offsets[j];
    if (rows == 0) continue;
    experts_[j].backward(be, recv_ + off * d, d_out + off * d, rows, d_recv_.data() + off * d, expert_acts_[j]);
  }
  const T* d_sorted = dispatcher.dispatch_backward(layout_, d, d_recv_.data(), recv_buf_);

  // Router: gates, plus the layer's share of the step loss, loss_scale·(aux_coef·aux + z_coef·z).
  const double aux_w = ctx.loss_scale * cfg_.aux_loss_coef;
  std::vector<T> aux_dprob(E);
  for (int64_t e = 0; e < E; ++e) aux_dprob[e] = static_cast<T>(aux_w * aux_dprob_unit_[e]);
  const T z_scale = N ? static_cast<T>(ctx.loss_scale * cfg_.z_loss_coef / double(N)) : T(0);
  router_.backward(be, u, dgate_.data(), aux_w != 0 ? aux_dprob.data() : nullptr, z_scale, du, router_acts_);

  for (size_t s = 0; s < shared_.size(); ++s)
    shared_[s].backward(be, u, dy, N, du, shared_acts_[s], /*accumulate_dx=*/true);
  be.moe->scatter_add_rows(M, d, plan_.row_token.data(), d_sorted, du);
}

template <class T>
void MoeLayer<T>::reset_step_expert_counts() {
  std::fill(step_counts_.begin(), step_counts_.end(), 0);
}

template <class T>
void MoeLayer<T>::update_expert_bias(const int64_t* global_counts) {
  Parameter<T>* b = router_.expert_bias();
  SY_ASSERT(b, "update_expert_bias without moe.bias_update_rate > 0");
  double mean = 0;
  for (int e = 0; e < num_experts_; ++e) mean += double(global_counts[e]);
  mean /= num_experts_;
  for (int e = 0; e < num_experts_; ++e) {
    const double c = double(global_counts[e]);
    const double sign = mean > c ? 1.0 : (mean < c ? -1.0 : 0.0);
    b->value[e] = static_cast<T>(double(b->value[e]) + cfg_.bias_update_rate * sign);
  }
}

template class MoeLayer<float>;
template class MoeLayer<double>;

}  // namespace sy
