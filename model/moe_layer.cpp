// model/moe_layer.cpp — MoeLayer<T> forward and backward.
#include "model/moe_layer.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"
#include "runtime/profile.h"

namespace sy {

namespace {
// Finishing a row transfer may block on the peers: that time is a2a_wait, not the phase around it.
template <class T>
const T* finish_transfer(RowTransfer<T>& transfer) {
  prof::Scope ps(prof::Phase::a2a_wait);
  return transfer.finish();
}

// `v` copied into tensor memory, which is sized once for `max_n` values (no steady-state allocation).
void copy_to_tensor(const std::vector<int32_t>& v, int64_t max_n, Tensor<int32_t>& t) {
  SY_ASSERT(int64_t(v.size()) <= max_n, "index array longer than its bound");
  if (t.numel() < max_n) t.resize({max_n});
  std::copy(v.begin(), v.end(), t.data());
}
}  // namespace

template <class T>
MoeLayer<T>::MoeLayer(ParameterSet<T>& params, const std::string& prefix, int layer, const ModelConfig& model,
                      const MoeConfig& moe, int ep_rank, int ep_size, int a2a_chunks)
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
  shared_acts_.resize(shared_.size());
  step_counts_.assign(num_experts_, 0);
  layer_label_ = "layer " + std::to_string(layer);
  swiglu_ = model.activation == Activation::swiglu;
  arena_kinds_ = swiglu_ ? 4 : 3;
  set_a2a_chunks(a2a_chunks);
}

template <class T>
void MoeLayer<T>::set_a2a_chunks(int chunks) {
  if (chunks < 1) throw ConfigError("parallel.a2a_chunks must be at least 1, got " + std::to_string(chunks));
  a2a_chunks_ = chunks;
}

template <class T>
std::string MoeLayer<T>::chunk_label(int c) const {
  return "layer " + std::to_string(layer_) + " chunk " + std::to_string(c);
}

template <class T>
void MoeLayer<T>::gather_chunk(const Backend<T>& be, int c, const T* u) {
  const DispatchPlan& p = chunk_plans_[c];
  be.moe->gather_rows(p.rows(), d_model_, row_token_[c].data(), u, sorted_in_.data() + row_begin_[c] * d_model_);
}

template <class T>
void MoeLayer<T>::bind_expert_arena(int64_t N) {
  if (experts_.empty()) return;
  const int C = static_cast<int>(layouts_.size());
  const int64_t rows = recv_begin_[C], H = experts_[0].hidden();
  // Sized once for the most rows a micro-batch can bring (N·k without EP), so
  // changing routing never reallocates; EP peers may send more, then it grows
  // (by half at least: Tensor's growth).  Not zeroed: every activation row is
  // written before it is read.
  if (rows > arena_rows_ || arena_.empty()) {
    arena_rows_ = std::max(rows, N * top_k_);
    arena_.resize_for_overwrite({arena_kinds_, arena_rows_, H});
  }
  T* base = arena_.data();
  const int64_t kind = arena_rows_ * H;
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < local_experts(); ++j) {
      const int64_t n = layouts_[c].expert_counts[j], off = (recv_begin_[c] + layouts_[c].expert_offsets[j]) * H;
      MlpActivations<T>& acts = expert_acts_[c][j];
      acts.h1.set_view(base + off, {n, H});
      acts.a.set_view(base + kind + off, {n, H});
      acts.da.set_view(base + 2 * kind + off, {n, H});
      if (swiglu_) acts.h3.set_view(base + 3 * kind + off, {n, H});
    }
}

template <class T>
void MoeLayer<T>::experts_forward(const Backend<T>& be, int c) {
  const int64_t d = d_model_;
  const ExpertLayout& layout = layouts_[c];
  T* out = expert_out_.data() + recv_begin_[c] * d;
  // All local experts in grouped GEMM calls; experts with no rows (they still
  // took part in the exchange) are skipped.
  Mlp<T>::forward_group(be, experts_, layout.expert_counts.data(), layout.expert_offsets.data(), recv_[c], out,
                        expert_acts_[c]);
}

template <class T>
void MoeLayer<T>::experts_backward_data(const Backend<T>& be, int c, const T* d_out) {
  const ExpertLayout& layout = layouts_[c];
  Mlp<T>::backward_group_data(be, experts_, layout.expert_counts.data(), layout.expert_offsets.data(), d_out,
                              d_recv_.data() + recv_begin_[c] * d_model_, expert_acts_[c]);
}

template <class T>
void MoeLayer<T>::experts_backward_weights(const Backend<T>& be, int c, const T* d_out) {
  const ExpertLayout& layout = layouts_[c];
  Mlp<T>::backward_group_weights(be, experts_, layout.expert_counts.data(), layout.expert_offsets.data(), recv_[c],
                                 d_out, expert_acts_[c]);
}

template <class T>
void MoeLayer<T>::forward(const Backend<T>& be, const StepContext& ctx, const T* u, T* y, Dispatcher<T>& dispatcher) {
  SY_ASSERT(dispatcher.ep_size() == ep_size_ && dispatcher.ep_rank() == ep_rank_,
            "dispatcher EP group does not match the layer's");
  const int64_t N = ctx.tokens(), d = d_model_, E = num_experts_, k = top_k_;
  tokens_ = N;

  // 1. Route.
  prof::Scope route_scope(prof::Phase::router);  // until the pipeline: routing, plan and statistics
  router_.forward(be, ctx, u, N, router_acts_);
  const int64_t capacity = ctx.training ? expert_capacity(cfg_.capacity_factor, N, top_k_, num_experts_) : 0;
  {
    prof::Scope ps(prof::Phase::dispatch_plan);
    build_dispatch_plan_into(plan_, router_acts_.expert.data(), N, top_k_, num_experts_, capacity, ep_size_);
  }

  // 2. Statistics: f (before drops) and P, averaged over all ranks' micro-batches for scope global.
  std::vector<double>& fp = stat_buf_;
  fp.assign(2 * E + 1, 0.0);
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
  if (cfg_.aux_loss_scope == AuxScope::global && ctx.training) {
    prof::Scope ps(prof::Phase::a2a_wait);
    dispatcher.allreduce_sum(fp.data(), 2 * E + 1);
  }
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

  // 3. Chunks: the plan's rows by token range (drops stay as the whole plan decided),
  // one count exchange for all of them, then the inputs gathered chunk after chunk.
  const int C = a2a_chunks_;
  prof::Scope plan_scope(prof::Phase::dispatch_plan);
  chunk_plans_.resize(C);
  row_token_.resize(C);
  row_assignment_.resize(C);
  for (int c = 0; c < C; ++c) {
    slice_dispatch_plan_into(chunk_plans_[c], plan_, c * N / C, (c + 1) * N / C);
    copy_to_tensor(chunk_plans_[c].row_token, N * k, row_token_[c]);
    copy_to_tensor(chunk_plans_[c].row_assignment, N * k, row_assignment_[c]);
  }
  {
    prof::Scope ps(prof::Phase::a2a_wait);
    dispatcher.exchange_counts_into(chunk_plans_, layer_label_, layouts_);
  }
  row_begin_.assign(C + 1, 0);
  recv_begin_.assign(C + 1, 0);
  for (int c = 0; c < C; ++c) {
    row_begin_[c + 1] = row_begin_[c] + chunk_plans_[c].rows();
    recv_begin_[c + 1] = recv_begin_[c] + layouts_[c].recv_rows();
  }
  sorted_in_.resize_for_overwrite({plan_.rows(), d});  // every row gathered below
  {
    prof::Scope ps(prof::Phase::permute);
    for (int c = 0; c < C; ++c) gather_chunk(be, c, u);
  }
  expert_out_.resize_for_overwrite({recv_begin_[C], d});  // every row written by its expert
  recv_bufs_.resize(C);
  back_bufs_.resize(C);
  recv_.assign(C, nullptr);
  back_.assign(C, nullptr);
  expert_acts_.resize(C);
  for (auto& acts : expert_acts_) acts.resize(local_experts());
  bind_expert_arena(N);

  // 4. Pipeline.  The order of starts is the same on every rank (D0, D1, C0, D2, C1,
  // ..., C_last) whatever the rows, so the collectives match up.
  if (chunk_labels_.size() != size_t(C)) {
    chunk_labels_.clear();
    for (int c = 0; c < C; ++c) chunk_labels_.push_back(chunk_label(c));
  }
  auto start = [&](RowMove move, int c, const T* rows, std::vector<Tensor<T>>& bufs) {
    return dispatcher.start(move, layouts_[c], d, rows, bufs[c], chunk_labels_[c]);
  };
  RowTransfer<T> dispatching = start(RowMove::dispatch, 0, sorted_in_.data() + row_begin_[0] * d, recv_bufs_);
  // y = shared experts, computed while the first dispatch is in flight.
  prof::Scope shared_scope(prof::Phase::shared_experts);
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
  // y += Σ gate · expert output, chunk by chunk (dropped assignments add nothing).
  // Chunks hold disjoint tokens, so each token's terms are added in plan order.
  auto unpermute = [&](int c) {
    prof::Scope ps(prof::Phase::combine);
    const DispatchPlan& p = chunk_plans_[c];
    be.moe->combine_rows(p.rows(), d, row_token_[c].data(), row_assignment_[c].data(), router_acts_.gate.data(),
                         back_[c], y);
  };
  std::vector<RowTransfer<T>>& combining = transfers_;
  combining.resize(C);
  for (int c = 0; c < C; ++c) {
    recv_[c] = finish_transfer(dispatching);
    if (c + 1 < C) dispatching = start(RowMove::dispatch, c + 1, sorted_in_.data() + row_begin_[c + 1] * d, recv_bufs_);
    {
      prof::Scope ps(prof::Phase::experts);
      experts_forward(be, c);
    }
    combining[c] = start(RowMove::combine, c, expert_out_.data() + recv_begin_[c] * d, back_bufs_);
    if (c > 0) {
      back_[c - 1] = finish_transfer(combining[c - 1]);
      unpermute(c - 1);
    }
  }
  back_[C - 1] = finish_transfer(combining[C - 1]);
  unpermute(C - 1);
}

template <class T>
void MoeLayer<T>::backward(const Backend<T>& be, const StepContext& ctx, const T* u, const T* dy, T* du,
                           Dispatcher<T>& dispatcher) {
  const int64_t N = tokens_, d = d_model_, E = num_experts_;
  const int C = static_cast<int>(chunk_plans_.size());
  SY_ASSERT(N == ctx.tokens() && C > 0, "MoE backward on a different micro-batch than its forward");

  // Through the weighted un-permute: row gradients and gate gradients (zero for dropped assignments).
  prof::Scope combine_scope(prof::Phase::combine);
  dgate_.resize({N, top_k_});
  d_back_.resize_for_overwrite({plan_.rows(), d});  // every row written below
  for (int c = 0; c < C; ++c) {
    const DispatchPlan& p = chunk_plans_[c];
    be.moe->combine_rows_backward(p.rows(), d, row_token_[c].data(), row_assignment_[c].data(),
                                  router_acts_.gate.data(), back_[c], dy, d_back_.data() + row_begin_[c] * d,
                                  dgate_.data());
  }

  // Back through the exchange and the experts.  back_bufs_[c] is free once every
  // back_[c] has been read (above).  The input gradients land in dx_bufs_, not in
  // recv_bufs_: the weight gradients still read recv_[c] while they travel.
  auto start = [&](RowMove move, int c, const T* rows, std::vector<Tensor<T>>& bufs) {
    return dispatcher.start(move, layouts_[c], d, rows, bufs[c], chunk_labels_[c]);
  };
  RowTransfer<T> returning = start(RowMove::combine_backward, 0, d_back_.data() + row_begin_[0] * d, back_bufs_);

  // Meanwhile the router — gates, plus the layer's share of the step loss,
  // loss_scale·(aux_coef·aux + z_coef·z) — and the shared experts: du gets these
  // terms first, then the routed rows chunk by chunk (each token's in plan order).
  prof::Scope router_scope(prof::Phase::router);
  const double aux_w = ctx.loss_scale * cfg_.aux_loss_coef;
  Tensor<T>& aux_dprob = aux_dprob_;
  if (!aux_dprob.has_shape({E})) aux_dprob.resize({E});
  for (int64_t e = 0; e < E; ++e) aux_dprob[e] = static_cast<T>(aux_w * aux_dprob_unit_[e]);
  const T z_scale = N ? static_cast<T>(ctx.loss_scale * cfg_.z_loss_coef / double(N)) : T(0);
  router_.backward(be, u, dgate_.data(), aux_w != 0 ? aux_dprob.data() : nullptr, z_scale, du, router_acts_);
  prof::Scope shared_scope(prof::Phase::shared_experts);
  for (size_t s = 0; s < shared_.size(); ++s)
    shared_[s].backward(be, u, dy, N, du, shared_acts_[s], /*accumulate_dx=*/true);

  d_recv_.resize_for_overwrite({recv_begin_[C], d});  // every row written by its expert
  dx_bufs_.resize(C);
  auto scatter = [&](int c, const T* d_sorted) {
    prof::Scope ps(prof::Phase::permute);
    const DispatchPlan& p = chunk_plans_[c];
    be.moe->scatter_add_rows(p.rows(), d, row_token_[c].data(), d_sorted, du);
  };
  std::vector<RowTransfer<T>>& sending_back = transfers_;
  sending_back.resize(C);
  for (int c = 0; c < C; ++c) {
    const T* d_out = finish_transfer(returning);
    if (c + 1 < C)
      returning = start(RowMove::combine_backward, c + 1, d_back_.data() + row_begin_[c + 1] * d, back_bufs_);
    {
      prof::Scope ps(prof::Phase::experts);
      experts_backward_data(be, c, d_out);
    }
    // The input gradients travel back while the weight gradients are computed.
    sending_back[c] = start(RowMove::dispatch_backward, c, d_recv_.data() + recv_begin_[c] * d, dx_bufs_);
    {
      prof::Scope ps(prof::Phase::experts);
      experts_backward_weights(be, c, d_out);
    }
    if (c > 0) scatter(c - 1, finish_transfer(sending_back[c - 1]));
  }
  scatter(C - 1, finish_transfer(sending_back[C - 1]));
}

template <class T>
void MoeLayer<T>::reset_step_expert_counts() {
  std::fill(step_counts_.begin(), step_counts_.end(), 0);
}

template <class T>
std::vector<int64_t> MoeLayer<T>::global_step_expert_counts(Dispatcher<T>& dispatcher) const {
  // Counts travel as doubles (exact below 2^53) through the one all-reduce the dispatcher offers.
  std::vector<double> sums(step_counts_.begin(), step_counts_.end());
  dispatcher.allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()));
  return std::vector<int64_t>(sums.begin(), sums.end());
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
