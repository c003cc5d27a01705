// launch/trainer.cpp — the training loop every rank runs, and rank 0's step decisions.
#include "launch/trainer.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <span>

#include "comm/mpi_runtime.h"
#include "launch/checkpointing.h"
#include "launch/config_schema.h"
#include "launch/signals.h"
#include "launch/training_backend.h"
#include "runtime/lr_schedule.h"
#include "runtime/profile.h"

namespace sy {

std::unique_ptr<Dispatcher<float>> make_dispatcher(Collectives& comm);  // launch/dispatcher_factory.cpp

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}
}  // namespace

Trainer::Trainer(const Config& cfg, Collectives& comm)
    : cfg_(cfg),
      comm_(comm),
      world_size_(comm.size(Group::world)),
      rank_(comm.rank(Group::world)),
      ep_size_(comm.size(Group::ep)),
      ep_rank_(comm.rank(Group::ep)),
      // Before the model: on cuda this makes every tensor allocated afterwards device-addressable.
      backend_(make_training_backend(cfg.train, cfg.parallel.threads,
                                     RankPlacement{comm.rank(Group::node), comm.size(Group::node), local_hostname()})) {
  model_ = std::make_unique<Transformer<float>>(cfg_.model, cfg_.moe, ep_rank_, ep_size_);
  init_parameters(model_->params(), cfg_.train.seed);
  optimizer_ = std::make_unique<AdamW<float>>(model_->params(), cfg_.train);
  data_ = make_data_source(cfg_.data.source, cfg_.model.vocab_size);
  data_->validate(cfg_.train.seq_len);
  dispatcher_ = make_dispatcher(comm_);
  for (auto* layer : model_->moe_layers()) layer->set_a2a_chunks(cfg_.parallel.a2a_chunks);
  grad_sync_ = std::make_unique<GradientSync>(model_->params(), comm_, cfg_.parallel.bucket_mb, cfg_.model.n_layers);
  if (rank_ == 0) metrics_ = std::make_unique<MetricsWriter>(cfg_.log.metrics);
  resume_if_configured();
  // After any checkpoint load: the bf16 backend's packed weight copies start from the loaded values.
  register_gemm_weights(backend_, model_->params());
}

Trainer::~Trainer() = default;

void Trainer::resume_if_configured() {
  const std::string& resume = cfg_.ckpt.resume;
  if (resume == "none") return;
  if (resume == "auto") {
    if (cfg_.ckpt.dir.empty()) return;
    if (auto latest = latest_checkpoint(cfg_.ckpt.dir)) resume_from(*latest);
    return;
  }
  resume_from(resume);
}

void Trainer::resume_from(const std::filesystem::path& ckpt) {
  CheckpointReader reader(ckpt);
  check_same_model(reader, cfg_);
  load_parameters(reader, model_->params());
  load_moments(reader, *optimizer_);
  backend_.core->weights_changed();
  const TrainerState& ts = reader.meta().trainer;
  step_ = ts.step;
  tokens_seen_ = ts.tokens_seen;
  optimizer_->set_steps_taken(ts.optimizer_step);
  saved_step_ = step_;
  if (rank_ == 0) std::printf("resumed from %s at step %lld\n", reader.dir().c_str(), (long long)step_);
}

std::filesystem::path Trainer::save() {
  CheckpointMeta meta;
  meta.ep_size = ep_size_;
  meta.experts_per_file = cfg_.model.moe_layers.empty() ? 0 : cfg_.moe.num_experts / ep_size_;
  meta.world_size = world_size_;
  meta.config = to_ini(cfg_);
  meta.trainer.step = step_;
  meta.trainer.tokens_seen = tokens_seen_;
  meta.trainer.optimizer_step = optimizer_->steps_taken();
  meta.trainer.lr_schedule_step = step_;
  // Data order and router noise are pure functions of (seed, step, index): the
  // step is the whole cursor and the seed the whole RNG state.
  meta.trainer.data_cursor = step_;
  meta.trainer.rng_seed = cfg_.train.seed;
  auto all_ok = [this](bool ok) {
    int64_t failed = ok ? 0 : 1;
    comm_.all_reduce_max(Group::world, &failed, 1, "ckpt.all_ok").wait();
    return failed == 0;
  };
  const auto path = save_checkpoint(cfg_.ckpt.dir, meta, checkpoint_tensors(model_->params(), optimizer_.get()),
                                    SaveRole::for_rank(rank_, ep_size_), cfg_.ckpt.keep, all_ok);
  saved_step_ = step_;
  if (rank_ == 0) {
    std::printf("checkpoint: %s\n", path.c_str());
    std::fflush(stdout);
  }
  return path;
}

CommHandle Trainer::start_expert_norm(double& expert_sq) {
  // Every expert appears exactly once in each EP group, so its squares are
  // summed over the EP group only (dense gradients are identical on every rank
  // after the sync and need no sum).
  prof::Scope ps(prof::Phase::grad_norm);
  expert_sq = grad_sum_squares(backend_, model_->params(), ParamGroup::expert);
  return comm_.all_reduce_sum(Group::ep, &expert_sq, 1, "grad_norm.experts");
}

StepStats Trainer::train_step() {
  const auto t0 = Clock::now();
  const TrainConfig& tc = cfg_.train;
  const int64_t B = tc.micro_batch, S = tc.seq_len;
  const int64_t micro_batches = int64_t(tc.grad_accum) * world_size_;
  const int64_t step = step_ + 1;
  const int E = cfg_.moe.num_experts;
  auto moe = model_->moe_layers();

  // Local sums, reduced over the world below: ce, aux, z, dropped, assignments, then per
  // MoE layer i: E loads at 5 + i·E, and (dropped, assignments, entropy) at layer_at(i).
  const size_t L = moe.size();
  auto layer_at = [&](size_t i) { return 5 + L * E + 3 * i; };
  reduce_buf_.assign(5 + L * (E + 3), 0.0);
  model_->params().zero_grad();
  tokens_.resize(B * (S + 1));
  for (int m = 0; m < tc.grad_accum; ++m) {
    // Global sample index: micro-step m of rank r holds samples [(m·W + r)·B, +B).
    const int64_t first = (int64_t(m) * world_size_ + rank_) * B;
    data_->training_sequences(tc.seed, step, first, B, S, tokens_.data());
    StepContext ctx;
    ctx.batch = B;
    ctx.seq_len = S;
    ctx.training = true;
    ctx.seed = tc.seed;
    ctx.step = step;
    ctx.first_sample = first;
    ctx.loss_scale = 1.0 / double(micro_batches);
    const bool last = m + 1 == tc.grad_accum;
    if (last && grad_sync_->active()) {
      grad_sync_->begin();
      model_->set_backward_hook([this](int stage) { grad_sync_->stage_done(stage); });
    }
    const MicroBatchLoss l = model_->forward_backward(backend_, ctx, tokens_.data(), *dispatcher_);
    model_->set_backward_hook(nullptr);
    reduce_buf_[0] += l.ce_sum / double(l.tokens);
    reduce_buf_[1] += l.aux;
    reduce_buf_[2] += l.z;
    for (size_t i = 0; i < moe.size(); ++i) {
      const MoeStats& s = moe[i]->stats();
      reduce_buf_[3] += double(s.dropped);
      reduce_buf_[4] += double(s.assignments);
      for (int e = 0; e < E; ++e) reduce_buf_[5 + i * E + e] += double(s.expert_counts[e]);
      reduce_buf_[layer_at(i)] += double(s.dropped);
      reduce_buf_[layer_at(i) + 1] += double(s.assignments);
      reduce_buf_[layer_at(i) + 2] += s.router_entropy;
    }
  }
  // Started before waiting for the gradient buckets, so they overlap the last
  // ones: the step statistics, and the experts' share of the gradient norm when
  // the expert gradients are final as the backward ends (no expert-DP replicas,
  // hence no expert buckets).
  CommHandle stats =
      comm_.all_reduce_sum(Group::world, reduce_buf_.data(), int64_t(reduce_buf_.size()), "step.stats");
  const bool experts_final = comm_.size(Group::expert_dp) == 1;
  double expert_sq = 0;
  CommHandle expert_norm;
  if (experts_final) expert_norm = start_expert_norm(expert_sq);
  if (grad_sync_->active()) {
    prof::Scope ps(prof::Phase::grad_sync);
    grad_sync_->finish();
  }
  stats.wait();

  StepStats st;
  st.step = step;
  st.ce_loss = reduce_buf_[0] / micro_batches;
  st.aux_loss = reduce_buf_[1] / micro_batches;
  st.z_loss = reduce_buf_[2] / micro_batches;
  st.loss = st.ce_loss + cfg_.moe.aux_loss_coef * st.aux_loss + cfg_.moe.z_loss_coef * st.z_loss;
  st.dropped_frac = reduce_buf_[4] > 0 ? reduce_buf_[3] / reduce_buf_[4] : 0.0;
  st.expert_load.assign(moe.size(), std::vector<int64_t>(E, 0));
  for (size_t i = 0; i < moe.size(); ++i) {
    for (int e = 0; e < E; ++e) st.expert_load[i][e] = static_cast<int64_t>(reduce_buf_[5 + i * E + e]);
    const double assigned = reduce_buf_[layer_at(i) + 1];
    st.layer_dropped_frac.push_back(assigned > 0 ? reduce_buf_[layer_at(i)] / assigned : 0.0);
    st.layer_router_entropy.push_back(reduce_buf_[layer_at(i) + 2] / micro_batches);
  }

  {
    prof::Scope ps(prof::Phase::grad_norm);
    if (!experts_final) expert_norm = start_expert_norm(expert_sq);
    expert_norm.wait();
    st.grad_norm = std::sqrt(grad_sum_squares(backend_, model_->params(), ParamGroup::dense) + expert_sq);
  }
  if (!std::isfinite(st.loss) || !std::isfinite(st.grad_norm)) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "non-finite %s at step %lld (loss %g, grad_norm %g)",
                  std::isfinite(st.loss) ? "gradient" : "loss", (long long)step, st.loss, st.grad_norm);
    throw NumericalError(msg);
  }
  st.lr = lr_at(tc, step);
  {
    prof::Scope ps(prof::Phase::optimizer);
    optimizer_->step(backend_, st.lr, clip_factor(st.grad_norm, tc.grad_clip));
  }
  if (cfg_.moe.bias_update_rate > 0)
    for (size_t i = 0; i < moe.size(); ++i) moe[i]->update_expert_bias(st.expert_load[i].data());

  step_ = step;
  tokens_seen_ += micro_batches * B * S;
  st.comm = comm_.take_times();
  st.step_ms = ms_since(t0);
  st.tokens_per_s = double(micro_batches * B * S) / (st.step_ms / 1000.0);
  return st;
}

void Trainer::log_step(const StepStats& s) {
  if (rank_ != 0) return;
  const double eta = (cfg_.train.steps - s.step) * s.step_ms / 1000.0;
  std::printf("step %lld/%lld | loss %.4f | ce %.4f | lr %.2e | gnorm %.3f | %.0f tok/s | a2a %.1f ms | ETA %s\n",
              (long long)s.step, (long long)cfg_.train.steps, s.loss, s.ce_loss, s.lr, s.grad_norm, s.tokens_per_s,
              s.comm.a2a_ms, format_duration(eta).c_str());
  std::fflush(stdout);
  if (!metrics_ || !metrics_->enabled()) return;
  MetricsRecord r;
  r.add("step", s.step)
      .add("loss", s.loss)
      .add("ce_loss", s.ce_loss)
      .add("aux_loss", s.aux_loss)
      .add("z_loss", s.z_loss)
      .add("lr", s.lr)
      .add("grad_norm", s.grad_norm)
      .add("tokens_per_s", s.tokens_per_s)
      .add("step_ms", s.step_ms)
      .add("a2a_ms", s.comm.a2a_ms)
      .add("a2a_exposed_ms", s.comm.a2a_exposed_ms)
      .add("allreduce_ms", s.comm.allreduce_ms)
      .add("allreduce_exposed_ms", s.comm.allreduce_exposed_ms)
      .add("dropped_frac", s.dropped_frac)
      .add("tokens_seen", tokens_seen_)
      .add("world_size", world_size_)
      .add("expert_load", s.expert_load);
  // Per MoE layer: load balance of the step's assignments (before drops), unused
  // experts, dropped fraction and router entropy.
  std::vector<double> lo, hi, mean;
  std::vector<int64_t> unused;
  for (const auto& load : s.expert_load) {
    int64_t mn = load.empty() ? 0 : load[0], mx = mn, sum = 0, zero = 0;
    for (int64_t c : load) mn = std::min(mn, c), mx = std::max(mx, c), sum += c, zero += c == 0;
    lo.push_back(double(mn));
    hi.push_back(double(mx));
    mean.push_back(load.empty() ? 0.0 : double(sum) / double(load.size()));
    unused.push_back(zero);
  }
  r.add("load_min", std::span<const double>(lo))
      .add("load_max", std::span<const double>(hi))
      .add("load_mean", std::span<const double>(mean))
      .add("unused_experts", std::span<const int64_t>(unused))
      .add("layer_dropped_frac", std::span<const double>(s.layer_dropped_frac))
      .add("router_entropy", std::span<const double>(s.layer_router_entropy));
  metrics_->write(r);
}

Command Trainer::next_command() {
  // A preemption signal seen by any rank reaches rank 0's decision: the flag is
  // reduced first, then rank 0 broadcasts the one command every rank executes.
  int64_t signal = preemption_signal();
  comm_.all_reduce_max(Group::world, &signal, 1, "driver.signals").wait();
  int64_t command = static_cast<int64_t>(Command::step);
  if (rank_ == 0) {
    const bool can_save = !cfg_.ckpt.dir.empty() && saved_step_ != step_;
    const bool save_due = can_save && step_ > 0 &&
                          ((cfg_.ckpt.every > 0 && step_ % cfg_.ckpt.every == 0) || step_ >= cfg_.train.steps);
    Command c = Command::step;
    if (signal != 0)
      c = can_save ? Command::save_and_stop : Command::stop;
    else if (save_due)
      c = Command::save;
    else if (step_ >= cfg_.train.steps)
      c = Command::stop;
    command = static_cast<int64_t>(c);
  }
  comm_.broadcast(Group::world, &command, sizeof command, 0, "driver.command").wait();
  if (signal != 0 && rank_ == 0) std::printf("preemption signal %lld: saving and exiting\n", (long long)signal);
  return static_cast<Command>(command);
}

Command Trainer::run() {
  const int64_t first_step = step_;
  if (prof::enabled()) prof::reset();
  for (;;) {
    const Command c = next_command();
    if (c == Command::save || c == Command::save_and_stop) save();
    if (c == Command::save) continue;
    if (c != Command::step) {
      // SWITCHYARD_PROFILE=1: where rank 0's steps spent their time (=all: every rank's).
      if (prof::enabled() && (rank_ == 0 || prof::every_rank_reports()) && step_ > first_step) {
        const std::string who = "rank " + std::to_string(rank_);
        prof::print_report(stdout, step_ - first_step, who.c_str());
      }
      return c;
    }
    const StepStats s = train_step();
    if (cfg_.log.every > 0 && (s.step % cfg_.log.every == 0 || s.step == cfg_.train.steps)) log_step(s);
  }
}

}  // namespace sy
