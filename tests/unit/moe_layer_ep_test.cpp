// tests/unit/moe_layer_ep_test.cpp — MoeLayer with expert parallelism across in-process fake ranks: equals a
// single-process reference holding every expert, for any a2a_chunks; drops, shared experts, global aux, idle ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "comm/collective_dispatcher.h"
#include "model/moe_layer.h"
#include "tests/unit/fake_collectives.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

constexpr int64_t kD = 6;  // d_model; d_ff = 5
const std::string kPrefix = "decoder/layers/1/moe_layer";

struct EpCase {
  const char* name;
  int world, ep, E, k;
  double cf;
  int shared;
  AuxScope scope;
  Activation act = Activation::gelu;
  bool normalize = false;
  bool idle_first_peer = false;  // router and inputs send every token to experts ≥ L: EP rank 0 receives nothing
};
void PrintTo(const EpCase& c, std::ostream* os) { *os << c.name; }

ModelConfig model_config(const EpCase& c) {
  ModelConfig m;
  m.d_model = kD;
  m.d_ff = 5;
  m.activation = c.act;
  m.bias = true;
  return m;
}

MoeConfig moe_config(const EpCase& c) {
  MoeConfig m;
  m.num_experts = c.E;
  m.top_k = c.k;
  m.capacity_factor = c.cf;
  m.normalize_topk = c.normalize;
  m.aux_loss_coef = 0.3;
  m.z_loss_coef = 0.05;
  m.aux_loss_scope = c.scope;
  m.shared_experts = c.shared;
  m.bias_update_rate = 0.125;
  return m;
}

StepContext context(const EpCase& c, int rank) {
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 5;
  ctx.seed = 7;
  ctx.step = 2;
  ctx.first_sample = 2 * rank;
  ctx.loss_scale = 1.0 / c.world;
  return ctx;
}

// Rank r's layer input and upstream gradient.
Tensor<double> input(const EpCase& c, int r) {
  Tensor<double> u({context(c, r).tokens(), kD});
  test::fill_normal(u, 100 + r);
  if (c.idle_first_peer)
    for (int64_t i = 0; i < u.numel(); ++i) u[i] = std::abs(u[i]) + 0.25;
  return u;
}
Tensor<double> upstream(const EpCase& c, int r) {
  Tensor<double> dy({context(c, r).tokens(), kD});
  test::fill_normal(dy, 200 + r);
  return dy;
}

// Parameters of the reference (all experts); EP ranks copy theirs by name.
void randomize(ParameterSet<double>& ps, const EpCase& c) {
  init_parameters(ps, 11);
  for (auto& p : ps)
    if (p.trainable) test::fill_normal(p.value, fnv1a(p.name), p.name.find("/gate/") != std::string::npos ? 1.0 : 0.5);
  if (c.idle_first_peer) {
    // Positive inputs: experts [0, L) score far below the others.
    double* wg = ps.at(kPrefix + "/gate/wg/weight").value.data();
    const int L = c.E / c.ep;
    for (int e = 0; e < c.E; ++e)
      for (int64_t i = 0; i < kD; ++i) wg[e * kD + i] = (e < L ? -2.0 : 1.0) + 0.3 * wg[e * kD + i];
  }
}
void copy_values(const ParameterSet<double>& from, ParameterSet<double>& to) {
  auto& src = const_cast<ParameterSet<double>&>(from);
  for (auto& p : to) {
    const Parameter<double>& q = src.at(p.name);
    std::copy(q.value.data(), q.value.data() + q.value.numel(), p.value.data());
  }
}

using Grads = std::map<std::string, std::vector<double>>;
// Routed experts are sharded over EP ranks; everything else (router, shared experts) is dense.
bool is_routed_expert(const std::string& name) { return name.find("/experts/") != std::string::npos; }
struct RankResult {
  std::vector<double> y, du;
  Grads grads;  // every parameter the rank holds
  MoeStats stats;
  std::vector<double> probs;  // [N, E] router probabilities
  std::vector<int64_t> global_counts;
  std::vector<double> bias_after_update;
};

Grads grads_of(ParameterSet<double>& ps) {
  Grads g;
  for (auto& p : ps)
    if (p.trainable) g[p.name] = std::vector<double>(p.grad.data(), p.grad.data() + p.grad.numel());
  return g;
}

// One training forward/backward of every rank, EP across fake ranks with C chunks.
std::vector<RankResult> run_ep(const EpCase& c, int chunks) {
  ParameterSet<double> ref;
  MoeLayer<double> ref_layer(ref, kPrefix, 1, model_config(c), moe_config(c), 0, 1);
  randomize(ref, c);
  std::vector<RankResult> out(c.world);
  test::run_ranks(c.world, c.ep, [&](Collectives& comm, int r) {
    const Backend<double> be = make_cpu_backend<double>();
    CollectiveDispatcher<double> dispatcher(comm);
    ParameterSet<double> ps;
    MoeLayer<double> layer(ps, kPrefix, 1, model_config(c), moe_config(c), dispatcher.ep_rank(), c.ep, chunks);
    copy_values(ref, ps);
    const StepContext ctx = context(c, r);
    const int64_t N = ctx.tokens();
    const Tensor<double> u = input(c, r), dy = upstream(c, r);
    Tensor<double> y({N, kD}), du({N, kD});
    ps.zero_grad();
    layer.forward(be, ctx, u.data(), y.data(), dispatcher);
    layer.backward(be, ctx, u.data(), dy.data(), du.data(), dispatcher);
    RankResult& res = out[r];
    res.y.assign(y.data(), y.data() + y.numel());
    res.du.assign(du.data(), du.data() + du.numel());
    res.grads = grads_of(ps);
    res.stats = layer.stats();
    const Tensor<double>& probs = layer.router_activations().probs;
    res.probs.assign(probs.data(), probs.data() + probs.numel());
    res.global_counts = layer.global_step_expert_counts(dispatcher);
    layer.update_expert_bias(res.global_counts.data());
    const Tensor<double>& b = ps.at(kPrefix + "/gate/expert_bias").value;
    res.bias_after_update.assign(b.data(), b.data() + b.numel());
  });
  return out;
}

// The world's all-reduce as the reference sees it: record each rank's statistics,
// then hand every rank their sum, added in rank order like the fake.
class ReferenceDispatcher final : public LocalDispatcher<double> {
 public:
  int recording = -1;  // record into slot r; -1: sum
  std::vector<std::vector<double>> recorded;
  void allreduce_sum(double* x, int64_t n) override {
    if (recording >= 0) {
      recorded.resize(std::max<size_t>(recorded.size(), recording + 1));
      recorded[recording].assign(x, x + n);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      x[i] = recorded[0][i];
      for (size_t q = 1; q < recorded.size(); ++q) x[i] += recorded[q][i];
    }
  }
};

// Single process, every expert local: each rank's micro-batch processed on its own.
std::vector<RankResult> run_reference(const EpCase& c) {
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, kPrefix, 1, model_config(c), moe_config(c), 0, 1);
  randomize(ps, c);
  const Backend<double> be = make_cpu_backend<double>();
  ReferenceDispatcher dispatcher;
  std::vector<RankResult> out(c.world);
  for (int r = 0; r < c.world; ++r) {  // statistics of every micro-batch first
    const StepContext ctx = context(c, r);
    const Tensor<double> u = input(c, r);
    Tensor<double> y({ctx.tokens(), kD});
    dispatcher.recording = r;
    layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  }
  dispatcher.recording = -1;
  for (int r = 0; r < c.world; ++r) {
    const StepContext ctx = context(c, r);
    const int64_t N = ctx.tokens();
    const Tensor<double> u = input(c, r), dy = upstream(c, r);
    Tensor<double> y({N, kD}), du({N, kD});
    ps.zero_grad();
    layer.forward(be, ctx, u.data(), y.data(), dispatcher);
    layer.backward(be, ctx, u.data(), dy.data(), du.data(), dispatcher);
    out[r].y.assign(y.data(), y.data() + y.numel());
    out[r].du.assign(du.data(), du.data() + du.numel());
    out[r].grads = grads_of(ps);
    out[r].stats = layer.stats();
  }
  return out;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - b[i]) / (1.0 + std::abs(b[i]));
    if (err > worst) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << " element " << at << ": " << a[at] << " vs " << b[at];
}

// Σ over the ranks holding each routed expert of its gradient.
Grads expert_grad_sums(const std::vector<RankResult>& results) {
  Grads sum;
  for (const RankResult& r : results)
    for (const auto& [name, g] : r.grads) {
      if (!is_routed_expert(name)) continue;
      std::vector<double>& s = sum[name];
      if (s.empty()) s.assign(g.size(), 0.0);
      for (size_t i = 0; i < g.size(); ++i) s[i] += g[i];
    }
  return sum;
}

void expect_matches_reference(const EpCase& c, const std::vector<RankResult>& ep,
                              const std::vector<RankResult>& ref) {
  const double tol = 1e-13;
  for (int r = 0; r < c.world; ++r) {
    const std::string at = "rank " + std::to_string(r) + " ";
    expect_close(ep[r].y, ref[r].y, tol, at + "y");
    expect_close(ep[r].du, ref[r].du, tol, at + "du");
    for (const auto& [name, g] : ep[r].grads)
      if (!is_routed_expert(name)) expect_close(g, ref[r].grads.at(name), tol, at + name);
    EXPECT_NEAR(ep[r].stats.aux, ref[r].stats.aux, 1e-15) << at;
    EXPECT_NEAR(ep[r].stats.z, ref[r].stats.z, 1e-15) << at;
    EXPECT_EQ(ep[r].stats.expert_counts, ref[r].stats.expert_counts) << at;
    EXPECT_EQ(ep[r].stats.dropped, ref[r].stats.dropped) << at;
  }
  // Each expert's gradient, summed over the ranks holding it (its expert-DP group),
  // is the gradient of the reference over every rank's micro-batch.
  Grads ref_sum;
  for (const RankResult& r : ref)
    for (const auto& [name, g] : r.grads) {
      if (!is_routed_expert(name)) continue;
      std::vector<double>& s = ref_sum[name];
      if (s.empty()) s.assign(g.size(), 0.0);
      for (size_t i = 0; i < g.size(); ++i) s[i] += g[i];
    }
  const Grads got = expert_grad_sums(ep);
  ASSERT_EQ(got.size(), ref_sum.size());
  for (const auto& [name, g] : ref_sum) expect_close(got.at(name), g, tol, "Σ ranks " + name);
}

class MoeLayerEp : public ::testing::TestWithParam<EpCase> {};

TEST_P(MoeLayerEp, EveryRankMatchesTheSingleProcessReferenceForAnyChunkCount) {
  const EpCase c = GetParam();
  const std::vector<RankResult> ref = run_reference(c);
  const std::vector<RankResult> one = run_ep(c, 1);
  expect_matches_reference(c, one, ref);
  if (c.cf > 0 && c.cf < 1) {
    int64_t dropped = 0;
    for (const RankResult& r : one) dropped += r.stats.dropped;
    EXPECT_GT(dropped, 0) << "the case is meant to drop assignments";
  }
  for (int chunks : {2, 3}) {
    SCOPED_TRACE("a2a_chunks " + std::to_string(chunks));
    const std::vector<RankResult> many = run_ep(c, chunks);
    expect_matches_reference(c, many, ref);
    // Each token adds the same terms in the same order: outputs, input gradients and
    // dense gradients are identical; expert weight gradients differ by reordering only.
    for (int r = 0; r < c.world; ++r) {
      EXPECT_EQ(many[r].y, one[r].y) << "rank " << r;
      EXPECT_EQ(many[r].du, one[r].du) << "rank " << r;
      EXPECT_EQ(many[r].stats.dropped, one[r].stats.dropped);
      EXPECT_EQ(many[r].stats.aux, one[r].stats.aux);
      for (const auto& [name, g] : many[r].grads) {
        if (!is_routed_expert(name)) {
          EXPECT_EQ(g, one[r].grads.at(name)) << name;
        } else {
          expect_close(g, one[r].grads.at(name), 1e-14, name);
        }
      }
    }
  }

  // Loss-free balancing: every rank sums the same global counts and moves its bias alike.
  std::vector<int64_t> counts(c.E, 0);
  for (const RankResult& r : one)
    for (int e = 0; e < c.E; ++e) counts[e] += r.stats.expert_counts[e];
  for (const RankResult& r : one) {
    EXPECT_EQ(r.global_counts, counts);
    EXPECT_EQ(r.bias_after_update, one[0].bias_after_update);
  }

  // Global aux scope, by hand: f and P averaged over the ranks' micro-batches.
  if (c.scope == AuxScope::global) {
    std::vector<double> f(c.E, 0.0), P(c.E, 0.0);
    for (const RankResult& r : one) {
      const int64_t N = int64_t(r.probs.size()) / c.E;
      for (int e = 0; e < c.E; ++e) {
        f[e] += double(r.stats.expert_counts[e]) / double(N * c.k) / c.world;
        for (int64_t n = 0; n < N; ++n) P[e] += r.probs[n * c.E + e] / double(N) / c.world;
      }
    }
    double aux = 0;
    for (int e = 0; e < c.E; ++e) aux += c.E * f[e] * P[e];
    for (const RankResult& r : one) {
      EXPECT_NEAR(r.stats.aux, aux, 1e-14);
      EXPECT_EQ(r.stats.aux, one[0].stats.aux);  // every rank sees the same value
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grids, MoeLayerEp,
    ::testing::Values(EpCase{"w2_ep2_top2", 2, 2, 4, 2, 0.0, 0, AuxScope::micro},
                      EpCase{"w3_ep3_drops_shared_swiglu", 3, 3, 6, 2, 0.75, 1, AuxScope::micro, Activation::swiglu},
                      EpCase{"w4_ep2_global_two_shared_drops", 4, 2, 4, 2, 0.5, 2, AuxScope::global},
                      EpCase{"w4_ep4_top1_global_normalized", 4, 4, 4, 1, 0.0, 0, AuxScope::global, Activation::gelu,
                             true},
                      EpCase{"w2_ep1_global", 2, 1, 3, 2, 0.0, 1, AuxScope::global},
                      EpCase{"w3_ep3_L2_top3_global_drops", 3, 3, 6, 3, 0.6, 0, AuxScope::global, Activation::relu}),
    [](const auto& info) { return std::string(info.param.name); });

// Every token of every rank goes to EP rank 1's experts: rank 0 sends all its rows
// away and receives none; its experts see zero rows yet it joins every collective.
TEST(MoeLayerEp, RankWhoseTokensAllGoElsewhereAndExpertsWithNoRows) {
  const EpCase c{"idle", 2, 2, 4, 2, 0.0, 0, AuxScope::global, Activation::swiglu, false, true};
  const std::vector<RankResult> ref = run_reference(c);
  for (int chunks : {1, 3}) {
    SCOPED_TRACE("a2a_chunks " + std::to_string(chunks));
    const std::vector<RankResult> ep = run_ep(c, chunks);
    expect_matches_reference(c, ep, ref);
    for (const RankResult& r : ep) {
      EXPECT_EQ(r.stats.expert_counts[0], 0);
      EXPECT_EQ(r.stats.expert_counts[1], 0);
    }
    for (const auto& [name, g] : ep[0].grads) {
      if (!is_routed_expert(name)) continue;
      for (double v : g) ASSERT_EQ(v, 0.0) << name;
    }
    double busy = 0;
    for (const auto& [name, g] : ep[1].grads)
      for (double v : g) busy += std::abs(v);
    EXPECT_GT(busy, 0.0);
  }
}

// The chunked layer in one process against finite differences (the chunked
// backward is its own code path, not only a copy of C = 1).
TEST(MoeLayerEp, ChunkedLayerMatchesFiniteDifferences) {
  const EpCase c{"fd", 1, 1, 4, 2, 0.5, 1, AuxScope::micro, Activation::swiglu};
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, kPrefix, 1, model_config(c), moe_config(c), 0, 1, /*a2a_chunks=*/3);
  randomize(ps, c);
  const Backend<double> be = make_cpu_backend<double>();
  const StepContext ctx = context(c, 0);
  const int64_t N = ctx.tokens();
  Tensor<double> u = input(c, 0), w = upstream(c, 0), y({N, kD}), du({N, kD});
  LocalDispatcher<double> dispatcher;
  const MoeConfig moe = moe_config(c);
  auto loss = [&] {
    Tensor<double> yy({N, kD});
    layer.forward(be, ctx, u.data(), yy.data(), dispatcher);
    return test::weighted_sum(yy.data(), w.data(), yy.numel()) +
           ctx.loss_scale * (moe.aux_loss_coef * layer.stats().aux + moe.z_loss_coef * layer.stats().z);
  };
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  EXPECT_GT(layer.stats().dropped, 0);
  ps.zero_grad();
  layer.backward(be, ctx, u.data(), w.data(), du.data(), dispatcher);
  test::expect_gradient("du", u.data(), u.numel(), du.data(), loss, 1e-6, 1e-8);
  for (auto& p : ps)
    if (p.trainable) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss, 1e-6, 1e-8);
}

// Records when each row move starts and finishes (rows do not move: EP = 1).
class ScheduleRecorder final : public LocalDispatcher<double> {
 public:
  std::vector<std::string> events;
  RowTransfer<double> start(RowMove move, const ExpertLayout&, int64_t, const double* rows, Tensor<double>&,
                            std::string_view label) override {
    const std::string name = std::string(row_move_name(move)) + " " + std::string(label).substr(8);  // "chunk c"
    events.push_back("start " + name);
    return RowTransfer<double>(std::make_unique<Logged>(rows, name, events));
  }

 private:
  struct Logged final : RowTransfer<double>::InFlight {
    Logged(const double* r, std::string n, std::vector<std::string>& e) : rows(r), name(std::move(n)), events(e) {}
    const double* complete() override {
      events.push_back("finish " + name);
      return rows;
    }
    const double* rows;
    std::string name;
    std::vector<std::string>& events;
  };
};

// The pipeline's order of moves: what is in flight while each chunk computes, and
// the collective order every rank follows.
TEST(MoeLayerEp, ChunkPipelineSchedule) {
  const EpCase c{"", 1, 1, 4, 2, 0.0, 1, AuxScope::micro};
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, kPrefix, 1, model_config(c), moe_config(c), 0, 1, /*a2a_chunks=*/3);
  randomize(ps, c);
  const Backend<double> be = make_cpu_backend<double>();
  const StepContext ctx = context(c, 0);
  const int64_t N = ctx.tokens();
  const Tensor<double> u = input(c, 0), dy = upstream(c, 0);
  Tensor<double> y({N, kD}), du({N, kD}), y1({N, kD}), du1({N, kD});
  ScheduleRecorder rec;
  layer.forward(be, ctx, u.data(), y.data(), rec);
  using S = std::vector<std::string>;
  EXPECT_EQ(rec.events, (S{"start dispatch chunk 0", "finish dispatch chunk 0",  // shared experts ran in between
                           "start dispatch chunk 1", "start combine chunk 0",    // experts ran on chunk 0 in between
                           "finish dispatch chunk 1", "start dispatch chunk 2", "start combine chunk 1",
                           "finish combine chunk 0", "finish dispatch chunk 2", "start combine chunk 2",
                           "finish combine chunk 1", "finish combine chunk 2"}));
  rec.events.clear();
  layer.backward(be, ctx, u.data(), dy.data(), du.data(), rec);
  EXPECT_EQ(rec.events,
            (S{"start combine_backward chunk 0", "finish combine_backward chunk 0",  // router, shared experts
               "start combine_backward chunk 1", "start dispatch_backward chunk 0",  // experts on chunk 0
               "finish combine_backward chunk 1", "start combine_backward chunk 2", "start dispatch_backward chunk 1",
               "finish dispatch_backward chunk 0", "finish combine_backward chunk 2",
               "start dispatch_backward chunk 2", "finish dispatch_backward chunk 1",
               "finish dispatch_backward chunk 2"}));
  // Through pending transfers the results are those of one chunk.
  ParameterSet<double> ps1;
  MoeLayer<double> one(ps1, kPrefix, 1, model_config(c), moe_config(c), 0, 1);
  randomize(ps1, c);
  LocalDispatcher<double> local;
  one.forward(be, ctx, u.data(), y1.data(), local);
  one.backward(be, ctx, u.data(), dy.data(), du1.data(), local);
  for (int64_t i = 0; i < y.numel(); ++i) {
    ASSERT_EQ(y[i], y1[i]);
    ASSERT_EQ(du[i], du1[i]);
  }
}

TEST(MoeLayerEp, ChunkCountBelowOneIsAConfigError) {
  const EpCase c{"", 1, 1, 4, 2, 0.0, 0, AuxScope::micro};
  ParameterSet<double> ps;
  EXPECT_THROW(MoeLayer<double>(ps, kPrefix, 1, model_config(c), moe_config(c), 0, 1, 0), ConfigError);
}

// More chunks than tokens: empty chunks still exchange (zero rows), results unchanged.
TEST(MoeLayerEp, MoreChunksThanTokens) {
  const EpCase c{"", 2, 2, 4, 2, 0.0, 0, AuxScope::micro};
  const std::vector<RankResult> ref = run_reference(c);
  expect_matches_reference(c, run_ep(c, 13), ref);
}

}  // namespace
}  // namespace sy
