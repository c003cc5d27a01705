// tests/unit/moe_layer_test.cpp — MoeLayer: finite-difference gradients of the layer objective, zero-row experts,
// E = 1 equals a plain Mlp, loss-free bias, router noise, global aux scope, parameter layout.
#include "model/moe_layer.h"

#include <cmath>
#include <set>

#include "runtime/cpu/cpu_nn_ops.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

constexpr int64_t kD = 6;  // d_model; d_ff = 5

template <class T>
Backend<T> backend() {
  auto be = make_cpu_backend<T>();
  if (!be.nn) be.nn = std::make_unique<CpuNnOps<T>>();
  return be;
}

struct LayerCase {
  const char* name;
  int E, k;
  double cf;
  bool normalize;
  Activation act;
  bool bias;
  int shared;
  RouterNoise noise = RouterNoise::none;
  AuxScope scope = AuxScope::micro;
};

void PrintTo(const LayerCase& c, std::ostream* os) { *os << c.name; }

ModelConfig model_config(Activation act, bool bias) {
  ModelConfig m;
  m.d_model = kD;
  m.d_ff = 5;
  m.activation = act;
  m.bias = bias;
  return m;
}

MoeConfig moe_config(const LayerCase& c) {
  MoeConfig m;
  m.num_experts = c.E;
  m.top_k = c.k;
  m.capacity_factor = c.cf;
  m.normalize_topk = c.normalize;
  m.router_noise = c.noise;
  m.jitter_eps = 0.1;
  m.aux_loss_coef = 0.3;
  m.z_loss_coef = 0.05;
  m.aux_loss_scope = c.scope;
  m.shared_experts = c.shared;
  return m;
}

StepContext context(bool training = true) {
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 5;
  ctx.training = training;
  ctx.seed = 99;
  ctx.step = 3;
  ctx.first_sample = 4;
  ctx.loss_scale = 0.5;
  return ctx;
}

// Non-zero biases too; the router gets larger weights so top-k margins are not tiny.
template <class T>
void randomize(ParameterSet<T>& ps) {
  init_parameters(ps, 11);
  for (auto& p : ps)
    if (p.trainable) test::fill_normal(p.value, fnv1a(p.name), p.name.find("/gate/") != std::string::npos ? 1.0 : 0.5);
}

// The layer's part of the step loss for an upstream gradient w, as the backward sees it:
// Σ w·y + loss_scale·(aux_scale·aux_coef·aux + z_coef·z).
struct Objective {
  MoeLayer<double>& layer;
  const Backend<double>& be;
  const StepContext& ctx;
  const MoeConfig& moe;
  Dispatcher<double>& dispatcher;
  Tensor<double>& u;
  const Tensor<double>& w;
  double aux_scale = 1.0;
  double operator()() const {
    Tensor<double> y(u.shape());
    layer.forward(be, ctx, u.data(), y.data(), dispatcher);
    const MoeStats& s = layer.stats();
    return test::weighted_sum(y.data(), w.data(), y.numel()) +
           ctx.loss_scale * (aux_scale * moe.aux_loss_coef * s.aux + moe.z_loss_coef * s.z);
  }
};

// Checks ∂objective/∂u and ∂objective/∂(every trainable parameter) by central differences.
void check_layer_gradients(ParameterSet<double>& ps, MoeLayer<double>& layer, const MoeConfig& moe,
                           Dispatcher<double>& dispatcher, Tensor<double>& u, double aux_scale = 1.0) {
  auto be = backend<double>();
  const StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> w({N, kD}), y({N, kD}), du({N, kD});
  test::fill_normal(w, 5);
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  ps.zero_grad();
  layer.backward(be, ctx, u.data(), w.data(), du.data(), dispatcher);
  Objective loss{layer, be, ctx, moe, dispatcher, u, w, aux_scale};
  test::expect_gradient("du", u.data(), u.numel(), du.data(), loss, 1e-6, 1e-8);
  for (auto& p : ps)
    if (p.trainable) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss, 1e-6, 1e-8);
}

class MoeLayerGrad : public ::testing::TestWithParam<LayerCase> {};

TEST_P(MoeLayerGrad, ObjectiveMatchesFiniteDifferences) {
  const LayerCase& c = GetParam();
  const ModelConfig model = model_config(c.act, c.bias);
  const MoeConfig moe = moe_config(c);
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "decoder/layers/1/moe_layer", 1, model, moe, 0, 1);
  randomize(ps);
  const int per_mlp = (c.act == Activation::swiglu ? 3 : 2) * (c.bias ? 2 : 1);
  EXPECT_EQ(ps.size(), size_t(1 + (c.E + c.shared) * per_mlp));
  Tensor<double> u({context().tokens(), kD});
  test::fill_normal(u, 3);
  LocalDispatcher<double> dispatcher;
  check_layer_gradients(ps, layer, moe, dispatcher, u);
  const MoeStats& s = layer.stats();
  EXPECT_GT(s.aux, 0.0);
  EXPECT_GT(s.z, 0.0);
  if (c.cf > 0 && c.cf < 1) {
    EXPECT_GT(s.dropped, 0) << "the case is meant to drop assignments";
  }
  if (c.cf == 0) {
    EXPECT_EQ(s.dropped, 0);
  }
  EXPECT_DOUBLE_EQ(s.dropped_frac, double(s.dropped) / double(s.assignments));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MoeLayerGrad,
    ::testing::Values(LayerCase{"top1_gelu_bias", 4, 1, 0.0, false, Activation::gelu, true, 0},
                      LayerCase{"top2_drops_swiglu", 4, 2, 0.5, false, Activation::swiglu, false, 0},
                      LayerCase{"top4of8_normalized_shared_swiglu_bias", 8, 4, 0.0, true, Activation::swiglu, true, 1},
                      LayerCase{"top2_gelu_global_two_shared", 4, 2, 1.0, false, Activation::gelu, false, 2,
                                RouterNoise::none, AuxScope::global},
                      LayerCase{"top2_relu_jitter", 4, 2, 0.0, false, Activation::relu, true, 0, RouterNoise::jitter},
                      LayerCase{"top2_gumbel_drops_normalized", 4, 2, 0.75, true, Activation::gelu, true, 0,
                                RouterNoise::gumbel}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MoeLayer, ParameterLayoutForAnEpRank) {
  ModelConfig model = model_config(Activation::swiglu, true);
  MoeConfig moe = moe_config({"", 4, 2, 0.0, false, Activation::swiglu, true, 1});
  moe.d_expert = 3;
  moe.bias_update_rate = 0.01;
  ParameterSet<float> ps;
  MoeLayer<float> layer(ps, "decoder/layers/3/moe_layer", 3, model, moe, /*ep_rank=*/1, /*ep_size=*/2);
  EXPECT_EQ(layer.local_experts(), 2);
  EXPECT_EQ(layer.first_expert(), 2);
  const std::string pre = "decoder/layers/3/moe_layer/";
  EXPECT_EQ(ps.at(pre + "gate/wg/weight").value.shape(), (Shape{4, kD}));
  EXPECT_EQ(ps.at(pre + "gate/wg/weight").group, ParamGroup::dense);
  EXPECT_EQ(ps.find(pre + "gate/wg/bias"), nullptr);
  const Parameter<float>& b = ps.at(pre + "gate/expert_bias");
  EXPECT_FALSE(b.trainable);
  EXPECT_FALSE(b.weight_decay);
  EXPECT_EQ(b.value.shape(), (Shape{4}));
  EXPECT_EQ(ps.find(pre + "experts/0/fc1/weight"), nullptr);
  EXPECT_EQ(ps.find(pre + "experts/1/fc1/weight"), nullptr);
  for (int g : {2, 3}) {
    const Parameter<float>& w = ps.at(pre + "experts/" + std::to_string(g) + "/fc3/weight");
    EXPECT_EQ(w.value.shape(), (Shape{3, kD}));
    EXPECT_EQ(w.group, ParamGroup::expert);
    EXPECT_EQ(w.layer, 3);
    EXPECT_EQ(w.expert, g);
  }
  EXPECT_EQ(ps.at(pre + "shared_experts/0/fc2/weight").group, ParamGroup::dense);
  EXPECT_EQ(ps.at(pre + "shared_experts/0/fc2/weight").value.shape(), (Shape{kD, 3}));
}

TEST(MoeLayer, ImpossibleConfigsAreConfigErrors) {
  const ModelConfig model = model_config(Activation::gelu, true);
  ParameterSet<double> ps;
  EXPECT_THROW(MoeLayer<double>(ps, "a", 0, model, moe_config({"", 4, 5, 0, false, Activation::gelu, true, 0}), 0, 1),
               ConfigError);
  EXPECT_THROW(MoeLayer<double>(ps, "b", 0, model, moe_config({"", 6, 2, 0, false, Activation::gelu, true, 0}), 0, 4),
               ConfigError);
}

TEST(MoeLayer, ExpertReceivingNoRowsGetsZeroGradient) {
  const LayerCase c{"", 4, 2, 0.0, false, Activation::swiglu, true, 0};
  const ModelConfig model = model_config(c.act, c.bias);
  const MoeConfig moe = moe_config(c);
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "m", 0, model, moe, 0, 1);
  randomize(ps);
  // Positive inputs and a strongly negative router row: expert 3 is never in the top 2.
  Tensor<double> u({context().tokens(), kD});
  test::fill_normal(u, 3);
  for (int64_t i = 0; i < u.numel(); ++i) u[i] = std::abs(u[i]) + 0.5;
  double* wg = ps.at("m/gate/wg/weight").value.data();
  for (int64_t c2 = 0; c2 < kD; ++c2) wg[3 * kD + c2] = -3.0;
  LocalDispatcher<double> dispatcher;
  check_layer_gradients(ps, layer, moe, dispatcher, u);
  EXPECT_EQ(layer.plan().counts[3], 0);
  EXPECT_EQ(layer.stats().expert_counts[3], 0);
  for (auto& p : ps) {
    if (p.expert != 3) continue;
    for (int64_t i = 0; i < p.grad.numel(); ++i) ASSERT_EQ(p.grad[i], 0.0) << p.name;
  }
  // The router row of the idle expert still learns through the aux and z terms.
  double row3 = 0;
  for (int64_t c2 = 0; c2 < kD; ++c2) row3 += std::abs(ps.at("m/gate/wg/weight").grad[3 * kD + c2]);
  EXPECT_GT(row3, 0.0);
}

TEST(MoeLayer, SingleExpertTop1EqualsPlainMlp) {
  for (Activation act : {Activation::gelu, Activation::swiglu}) {
    const ModelConfig model = model_config(act, true);
    MoeConfig moe = moe_config({"", 1, 1, 0.0, false, act, true, 0});
    moe.z_loss_coef = 0;  // with one expert p = 1: only z would touch the router
    ParameterSet<double> ps, ps_mlp;
    MoeLayer<double> layer(ps, "m", 0, model, moe, 0, 1);
    Mlp<double> mlp(ps_mlp, "mlp", kD, model.d_ff, act, true);
    randomize(ps);
    for (auto& p : ps_mlp) {
      const std::string tail = p.name.substr(3);  // "/fc1/weight" ...
      const Parameter<double>& src = ps.at("m/experts/0" + tail);
      std::copy(src.value.data(), src.value.data() + src.value.numel(), p.value.data());
    }
    auto be = backend<double>();
    const StepContext ctx = context();
    const int64_t N = ctx.tokens();
    Tensor<double> u({N, kD}), dy({N, kD}), y({N, kD}), y2({N, kD}), du({N, kD}), du2({N, kD});
    test::fill_normal(u, 3);
    test::fill_normal(dy, 4);
    LocalDispatcher<double> dispatcher;
    ps.zero_grad();
    ps_mlp.zero_grad();
    layer.forward(be, ctx, u.data(), y.data(), dispatcher);
    layer.backward(be, ctx, u.data(), dy.data(), du.data(), dispatcher);
    MlpActivations<double> acts;
    mlp.forward(be, u.data(), N, y2.data(), acts);
    mlp.backward(be, u.data(), dy.data(), N, du2.data(), acts);
    for (int64_t i = 0; i < y.numel(); ++i) {
      EXPECT_NEAR(y[i], y2[i], 1e-14);
      EXPECT_NEAR(du[i], du2[i], 1e-14);
    }
    for (auto& p : ps_mlp) {
      const Parameter<double>& q = ps.at("m/experts/0" + p.name.substr(3));
      for (int64_t i = 0; i < p.grad.numel(); ++i) EXPECT_NEAR(q.grad[i], p.grad[i], 1e-14) << p.name;
    }
    EXPECT_DOUBLE_EQ(layer.stats().aux, 1.0);
  }
}

TEST(MoeLayer, LossFreeBiasSteersSelectionNotGates) {
  const ModelConfig model = model_config(Activation::gelu, true);
  MoeConfig moe = moe_config({"", 4, 1, 0.0, false, Activation::gelu, true, 0});
  moe.bias_update_rate = 0.25;
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "m", 0, model, moe, 0, 1);
  randomize(ps);
  auto be = backend<double>();
  StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> u({N, kD}), y({N, kD});
  test::fill_normal(u, 3);
  LocalDispatcher<double> dispatcher;
  Parameter<double>& bias = ps.at("m/gate/expert_bias");

  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  const Tensor<double> probs = layer.router_activations().probs;  // shares storage: copy values
  const std::vector<double> p0(probs.data(), probs.data() + probs.numel());
  const int32_t first0 = layer.router_activations().expert[0];
  const int favoured = (first0 + 1) % 4;
  bias.value[favoured] = 10.0;
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  const RouterActivations<double>& acts = layer.router_activations();
  for (int64_t n = 0; n < N; ++n) {
    EXPECT_EQ(acts.expert[n], favoured);
    EXPECT_EQ(acts.gate[n], acts.probs[n * 4 + favoured]);  // p_e, not p_e + b_e
  }
  for (int64_t i = 0; i < N * 4; ++i) EXPECT_EQ(acts.probs[i], p0[i]);
  EXPECT_EQ(layer.stats().expert_counts[favoured], N);

  // b_e += rate·sign(mean(c) − c_e): mean 3.
  bias.value[0] = 0.0, bias.value[1] = 0.5, bias.value[2] = -0.25, bias.value[3] = 0.0;
  const int64_t counts[4] = {5, 1, 3, 3};
  layer.update_expert_bias(counts);
  EXPECT_EQ(bias.value[0], -0.25);
  EXPECT_EQ(bias.value[1], 0.75);
  EXPECT_EQ(bias.value[2], -0.25);
  EXPECT_EQ(bias.value[3], 0.0);

  // The step accumulator: training forwards add their counts, eval does not.
  layer.reset_step_expert_counts();
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  const std::vector<int64_t> c1 = layer.stats().expert_counts;
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  ctx.training = false;
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  for (int e = 0; e < 4; ++e) EXPECT_EQ(layer.step_expert_counts()[e], 2 * c1[e]);
  layer.reset_step_expert_counts();
  for (int e = 0; e < 4; ++e) EXPECT_EQ(layer.step_expert_counts()[e], 0);
}

TEST(MoeLayer, EvalIsNoiseFreeAndDropless) {
  for (RouterNoise noise : {RouterNoise::gumbel, RouterNoise::jitter}) {
    const ModelConfig model = model_config(Activation::gelu, true);
    MoeConfig noisy = moe_config({"", 4, 2, 0.5, false, Activation::gelu, true, 0, noise});
    MoeConfig plain = noisy;
    plain.router_noise = RouterNoise::none;
    plain.capacity_factor = 0;
    ParameterSet<double> ps1, ps2;
    MoeLayer<double> a(ps1, "m", 0, model, noisy, 0, 1), b(ps2, "m", 0, model, plain, 0, 1);
    randomize(ps1);
    randomize(ps2);
    auto be = backend<double>();
    const StepContext ctx = context(/*training=*/false);
    const int64_t N = ctx.tokens();
    Tensor<double> u({N, kD}), ya({N, kD}), yb({N, kD});
    test::fill_normal(u, 3);
    LocalDispatcher<double> dispatcher;
    a.forward(be, ctx, u.data(), ya.data(), dispatcher);
    b.forward(be, ctx, u.data(), yb.data(), dispatcher);
    EXPECT_EQ(a.stats().dropped, 0);
    EXPECT_EQ(a.plan().capacity, 0);
    for (int64_t i = 0; i < ya.numel(); ++i) ASSERT_EQ(ya[i], yb[i]);
  }
}

// Selection of a micro-batch, and of the same tokens split into two micro-batches.
std::vector<int32_t> route(MoeLayer<double>& layer, const StepContext& ctx, const double* u) {
  auto be = backend<double>();
  LocalDispatcher<double> dispatcher;
  Tensor<double> y({ctx.tokens(), kD});
  layer.forward(be, ctx, u, y.data(), dispatcher);
  const auto& ex = layer.router_activations().expert;
  return std::vector<int32_t>(ex.data(), ex.data() + ex.numel());
}

TEST(MoeLayer, GumbelNoiseIsKeyedByStepLayerAndGlobalToken) {
  const ModelConfig model = model_config(Activation::gelu, true);
  const MoeConfig moe = moe_config({"", 4, 2, 0.0, false, Activation::gelu, true, 0, RouterNoise::gumbel});
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "m", 2, model, moe, 0, 1);
  randomize(ps);
  StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> u({N, kD});
  test::fill_normal(u, 3);

  const std::vector<int32_t> full = route(layer, ctx, u.data());
  // Selection = top-2 of softmax(r + g) with g drawn from Rng(seed, router_noise_key); gates = softmax(r).
  const RouterActivations<double>& acts = layer.router_activations();
  for (int64_t n = 0; n < N; ++n) {
    Rng rng(ctx.seed, router_noise_key(ctx, 2, n));
    double s[4], mx = -1e300, sum = 0;
    for (int e = 0; e < 4; ++e) mx = std::max(mx, s[e] = acts.logits[n * 4 + e] + rng.gumbel());
    for (int e = 0; e < 4; ++e) sum += (s[e] = std::exp(s[e] - mx));
    int best = 0, second = -1;
    for (int e = 1; e < 4; ++e)
      if (s[e] > s[best]) best = e;
    for (int e = 0; e < 4; ++e)
      if (e != best && (second < 0 || s[e] > s[second])) second = e;
    EXPECT_EQ(full[n * 2], best);
    EXPECT_EQ(full[n * 2 + 1], second);
    EXPECT_EQ(acts.gate[n * 2], acts.probs[n * 4 + best]);
  }
  EXPECT_EQ(route(layer, ctx, u.data()), full);  // deterministic

  // The same tokens as two micro-batches of one sequence each (another world size).
  StepContext half = ctx;
  half.batch = 1;
  std::vector<int32_t> split = route(layer, half, u.data());
  half.first_sample += 1;
  const std::vector<int32_t> second = route(layer, half, u.data() + 5 * kD);
  split.insert(split.end(), second.begin(), second.end());
  EXPECT_EQ(split, full);

  StepContext other = ctx;
  other.step += 1;
  EXPECT_NE(route(layer, other, u.data()), full);
}

TEST(MoeLayer, JitterScalesOnlyTheRouterInput) {
  const ModelConfig model = model_config(Activation::gelu, true);
  const MoeConfig moe = moe_config({"", 4, 2, 0.0, false, Activation::gelu, true, 0, RouterNoise::jitter});
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "m", 1, model, moe, 0, 1);
  randomize(ps);
  StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> u({N, kD});
  test::fill_normal(u, 3);
  route(layer, ctx, u.data());
  const RouterActivations<double>& acts = layer.router_activations();
  const std::vector<double> m(acts.jitter.data(), acts.jitter.data() + N * kD);
  const double* wg = ps.at("m/gate/wg/weight").value.data();
  bool any_off_one = false;
  for (int64_t n = 0; n < N; ++n) {
    Rng rng(ctx.seed, router_noise_key(ctx, 1, n));
    for (int64_t c = 0; c < kD; ++c) {
      const double want = 1.0 - 0.1 + 0.2 * rng.uniform();
      EXPECT_EQ(m[n * kD + c], want);
      EXPECT_GE(want, 0.9);
      EXPECT_LE(want, 1.1);
      any_off_one |= want != 1.0;
    }
    for (int e = 0; e < 4; ++e) {
      double r = 0;
      for (int64_t c = 0; c < kD; ++c) r += u[n * kD + c] * m[n * kD + c] * wg[e * kD + c];
      EXPECT_NEAR(acts.logits[n * 4 + e], r, 1e-13);
    }
  }
  EXPECT_TRUE(any_off_one);
  // Row n of the second half-batch sees the multipliers of global token 5 + n.
  StepContext half = ctx;
  half.batch = 1;
  half.first_sample += 1;
  route(layer, half, u.data() + 5 * kD);
  for (int64_t i = 0; i < 5 * kD; ++i) EXPECT_EQ(layer.router_activations().jitter[i], m[5 * kD + i]);
}

// One other rank whose router statistics are frozen at what record mode saw: the
// all-reduce adds them.  Lets a test check the global-scope formulas in one process.
class FrozenPeerDispatcher final : public LocalDispatcher<double> {
 public:
  bool record = false;
  std::vector<double> peer;
  int allreduce_calls = 0;
  void allreduce_sum(double* x, int64_t n) override {
    ++allreduce_calls;
    if (record) peer.assign(x, x + n);
    for (int64_t i = 0; i < n; ++i) x[i] += peer[i];
  }
};

TEST(MoeLayer, GlobalAuxScopeAveragesOverRanksAndItsGradientCountsEveryRank) {
  const LayerCase c{"", 4, 2, 0.5, false, Activation::gelu, true, 0, RouterNoise::none, AuxScope::global};
  const ModelConfig model = model_config(c.act, c.bias);
  const MoeConfig moe = moe_config(c);
  ParameterSet<double> ps;
  MoeLayer<double> layer(ps, "m", 0, model, moe, 0, 1);
  randomize(ps);
  auto be = backend<double>();
  const StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> u({N, kD}), u_peer({N, kD}), y({N, kD});
  test::fill_normal(u, 3);
  test::fill_normal(u_peer, 8);
  FrozenPeerDispatcher dispatcher;

  auto local_f_P = [&](std::vector<double>& f, std::vector<double>& P) {
    f.assign(4, 0.0);
    P.assign(4, 0.0);
    for (int e = 0; e < 4; ++e) f[e] = double(layer.stats().expert_counts[e]) / double(N * 2);
    for (int64_t n = 0; n < N; ++n)
      for (int e = 0; e < 4; ++e) P[e] += layer.router_activations().probs[n * 4 + e] / double(N);
  };
  std::vector<double> fp, Pp, f, P;
  dispatcher.record = true;
  layer.forward(be, ctx, u_peer.data(), y.data(), dispatcher);
  local_f_P(fp, Pp);
  dispatcher.record = false;
  layer.forward(be, ctx, u.data(), y.data(), dispatcher);
  local_f_P(f, P);
  double aux = 0;
  for (int e = 0; e < 4; ++e) aux += 4 * (f[e] + fp[e]) / 2 * (P[e] + Pp[e]) / 2;
  EXPECT_NEAR(layer.stats().aux, aux, 1e-14);
  // Both ranks' losses contain the common aux: this rank's gradient is twice ∂aux/∂(its parameters).
  check_layer_gradients(ps, layer, moe, dispatcher, u, /*aux_scale=*/2.0);

  // Eval reports the micro-batch's own aux without a collective.
  const int calls = dispatcher.allreduce_calls;
  layer.forward(be, context(/*training=*/false), u.data(), y.data(), dispatcher);
  EXPECT_EQ(dispatcher.allreduce_calls, calls);
  local_f_P(f, P);
  double micro = 0;
  for (int e = 0; e < 4; ++e) micro += 4 * f[e] * P[e];
  EXPECT_NEAR(layer.stats().aux, micro, 1e-14);
}

TEST(MoeLayer, FloatMatchesDouble) {
  const LayerCase c{"", 4, 2, 0.0, true, Activation::swiglu, true, 1};
  const ModelConfig model = model_config(c.act, c.bias);
  const MoeConfig moe = moe_config(c);
  ParameterSet<double> psd;
  ParameterSet<float> psf;
  MoeLayer<double> ld(psd, "m", 0, model, moe, 0, 1);
  MoeLayer<float> lf(psf, "m", 0, model, moe, 0, 1);
  randomize(psd);
  randomize(psf);
  const StepContext ctx = context();
  const int64_t N = ctx.tokens();
  Tensor<double> ud({N, kD}), yd({N, kD}), dud({N, kD});
  Tensor<float> uf({N, kD}), yf({N, kD}), duf({N, kD}), dyf({N, kD});
  test::fill_normal(ud, 3);
  test::fill_normal(uf, 3);
  for (int64_t i = 0; i < dyf.numel(); ++i) dyf[i] = 1.0f;
  Tensor<double> dyd({N, kD});
  for (int64_t i = 0; i < dyd.numel(); ++i) dyd[i] = 1.0;
  auto bed = backend<double>();
  auto bef = backend<float>();
  LocalDispatcher<double> dd;
  LocalDispatcher<float> df;
  ld.forward(bed, ctx, ud.data(), yd.data(), dd);
  lf.forward(bef, ctx, uf.data(), yf.data(), df);
  ld.backward(bed, ctx, ud.data(), dyd.data(), dud.data(), dd);
  lf.backward(bef, ctx, uf.data(), dyf.data(), duf.data(), df);
  for (int64_t i = 0; i < yd.numel(); ++i) {
    EXPECT_NEAR(yf[i], yd[i], 1e-5);
    EXPECT_NEAR(duf[i], dud[i], 1e-4);
  }
}

}  // namespace
}  // namespace sy
