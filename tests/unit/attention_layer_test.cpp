// tests/unit/attention_layer_test.cpp — SelfAttention<T>: parameter names and shapes, forward against a
// direct composition, backward (dx and every parameter) by finite differences, float32 against float64.
#include "model/attention.h"

#include <cmath>
#include <string>

#include "tests/unit/attention_reference.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

const std::string kPrefix = "decoder/layers/0/self_attn";

ModelConfig small_config(bool bias, bool rope, int n_kv_heads) {
  ModelConfig cfg;
  cfg.d_model = 16;
  cfg.n_heads = 4;  // d_head = 4
  cfg.n_kv_heads = n_kv_heads;
  cfg.bias = bias;
  cfg.positions = rope ? Positions::rope : Positions::learned;
  cfg.rope_theta = 100.0;  // larger angles than 10000 over a 5-token sequence
  return cfg;
}

// Every parameter ~ N(0, 0.25): large enough that attention is far from uniform.
template <class T>
void fill_params(ParameterSet<T>& ps) {
  uint64_t seed = 100;
  for (auto& p : ps) test::fill_normal(p.value, seed++, 0.25);
}

TEST(SelfAttention, RegistersProjectionsWithTorchShapes) {
  ParameterSet<double> ps;
  SelfAttention<double> attn(ps, kPrefix, small_config(true, true, 2));
  EXPECT_EQ(ps.size(), 8u);
  EXPECT_EQ(ps.at(kPrefix + "/q_proj/weight").value.shape(), Shape({16, 16}));
  EXPECT_EQ(ps.at(kPrefix + "/k_proj/weight").value.shape(), Shape({8, 16}));
  EXPECT_EQ(ps.at(kPrefix + "/v_proj/weight").value.shape(), Shape({8, 16}));
  EXPECT_EQ(ps.at(kPrefix + "/out_proj/weight").value.shape(), Shape({16, 16}));
  EXPECT_EQ(ps.at(kPrefix + "/q_proj/bias").value.shape(), Shape({16}));
  EXPECT_EQ(ps.at(kPrefix + "/k_proj/bias").value.shape(), Shape({8}));
  EXPECT_EQ(ps.at(kPrefix + "/v_proj/bias").value.shape(), Shape({8}));
  EXPECT_EQ(ps.at(kPrefix + "/out_proj/bias").value.shape(), Shape({16}));

  ParameterSet<double> no_bias;
  SelfAttention<double> attn2(no_bias, kPrefix, small_config(false, false, 0));
  EXPECT_EQ(no_bias.size(), 4u);
  EXPECT_EQ(no_bias.find(kPrefix + "/q_proj/bias"), nullptr);
  EXPECT_EQ(no_bias.at(kPrefix + "/k_proj/weight").value.shape(), Shape({16, 16}));  // n_kv_heads 0 → n_heads
}

TEST(SelfAttention, RejectsHeadsThatDoNotDivide) {
  ParameterSet<double> ps;
  EXPECT_THROW(SelfAttention<double>(ps, "a", small_config(true, false, 3)), ConfigError);
  ModelConfig odd = small_config(true, true, 0);
  odd.d_model = 12;  // d_head 3: rope needs an even head size
  EXPECT_THROW(SelfAttention<double>(ps, "b", odd), ConfigError);
}

// y = out_proj(attention(rope(x Wqᵀ + bq), rope(x Wkᵀ + bk), x Wvᵀ + bv)), written out with loops.
void reference_layer(ParameterSet<double>& ps, const ModelConfig& cfg, int64_t B, int64_t S, const double* x,
                     double* y) {
  const int64_t N = B * S, dm = cfg.d_model, Hq = cfg.n_heads, Hkv = cfg.kv_heads(), D = cfg.d_head();
  auto project = [&](const std::string& name, int64_t in, int64_t out, const double* src) {
    std::vector<double> dst(N * out);
    const double* w = ps.at(kPrefix + "/" + name + "/weight").value.data();
    Parameter<double>* b = ps.find(kPrefix + "/" + name + "/bias");
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < out; ++o) {
        double acc = b ? b->value[o] : 0.0;
        for (int64_t i = 0; i < in; ++i) acc += src[n * in + i] * w[o * in + i];
        dst[n * out + o] = acc;
      }
    return dst;
  };
  std::vector<double> q = project("q_proj", dm, Hq * D, x), k = project("k_proj", dm, Hkv * D, x),
                      v = project("v_proj", dm, Hkv * D, x);
  if (cfg.positions == Positions::rope) {
    test::reference_rope(B, S, Hq, D, cfg.rope_theta, q.data());
    test::reference_rope(B, S, Hkv, D, cfg.rope_theta, k.data());
  }
  std::vector<double> att(N * Hq * D), lse(B * Hq * S);
  test::reference_attention(B, S, Hq, Hkv, D, q.data(), k.data(), v.data(), att.data(), lse.data());
  std::vector<double> out = project("out_proj", Hq * D, dm, att.data());
  for (int64_t i = 0; i < N * dm; ++i) y[i] = out[i];
}

struct LayerCase {
  bool bias, rope;
  int n_kv_heads;
};
std::ostream& operator<<(std::ostream& os, const LayerCase& c) {
  return os << (c.bias ? "bias" : "no-bias") << (c.rope ? " rope" : " no-rope") << " kv" << c.n_kv_heads;
}

class SelfAttentionCases : public ::testing::TestWithParam<LayerCase> {};

TEST_P(SelfAttentionCases, ForwardMatchesDirectComposition) {
  const LayerCase& c = GetParam();
  const ModelConfig cfg = small_config(c.bias, c.rope, c.n_kv_heads);
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  SelfAttention<double> attn(ps, kPrefix, cfg);
  fill_params(ps);
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 5;
  Tensor<double> x({10, 16}), y({10, 16}), ref({10, 16});
  test::fill_normal(x, 1);
  attn.forward(be, ctx, x.data(), y.data());
  reference_layer(ps, cfg, 2, 5, x.data(), ref.data());
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-12) << i;
}

TEST_P(SelfAttentionCases, BackwardMatchesFiniteDifferences) {
  const LayerCase& c = GetParam();
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  SelfAttention<double> attn(ps, kPrefix, small_config(c.bias, c.rope, c.n_kv_heads));
  fill_params(ps);
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 5;
  Tensor<double> x({10, 16}), y({10, 16}), w({10, 16}), dx({10, 16});
  test::fill_normal(x, 1);
  test::fill_normal(w, 2);
  auto loss = [&] {
    attn.forward(be, ctx, x.data(), y.data());
    return test::weighted_sum(y.data(), w.data(), y.numel());
  };
  loss();
  ps.zero_grad();
  for (int64_t i = 0; i < dx.numel(); ++i) dx[i] = 1e3;  // must be overwritten
  attn.backward(be, ctx, x.data(), w.data(), dx.data());
  test::expect_gradient("dx", x.data(), x.numel(), dx.data(), loss);
  for (auto& p : ps) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss);
}

TEST_P(SelfAttentionCases, BackwardAccumulatesParameterGradsAndOverwritesDx) {
  const LayerCase& c = GetParam();
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  SelfAttention<double> attn(ps, kPrefix, small_config(c.bias, c.rope, c.n_kv_heads));
  fill_params(ps);
  StepContext ctx;
  ctx.batch = 1;
  ctx.seq_len = 4;
  Tensor<double> x({4, 16}), y({4, 16}), w({4, 16}), dx1({4, 16}), dx2({4, 16});
  test::fill_normal(x, 3);
  test::fill_normal(w, 4);
  attn.forward(be, ctx, x.data(), y.data());
  ps.zero_grad();
  attn.backward(be, ctx, x.data(), w.data(), dx1.data());
  std::vector<std::vector<double>> once;
  for (auto& p : ps) once.emplace_back(p.grad.data(), p.grad.data() + p.grad.numel());
  for (int64_t i = 0; i < dx2.numel(); ++i) dx2[i] = -7.0;
  attn.backward(be, ctx, x.data(), w.data(), dx2.data());
  for (int64_t i = 0; i < dx1.numel(); ++i) EXPECT_DOUBLE_EQ(dx2[i], dx1[i]);
  size_t k = 0;
  for (auto& p : ps) {
    double biggest = 0;
    for (int64_t i = 0; i < p.grad.numel(); ++i) {
      EXPECT_NEAR(p.grad[i], 2 * once[k][i], 1e-12) << p.name;
      biggest = std::max(biggest, std::abs(once[k][i]));
    }
    // Without rope, k's bias adds q·b_k to every score of a row, which softmax ignores: its gradient is 0.
    if (c.rope || p.name != kPrefix + "/k_proj/bias") {
      EXPECT_GT(biggest, 1e-6) << p.name << " got no gradient";
    }
    ++k;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SelfAttentionCases,
                         ::testing::Values(LayerCase{true, true, 2},    // bias, rope, GQA 2:1
                                           LayerCase{false, true, 1},   // no bias, rope, multi-query
                                           LayerCase{true, false, 0},   // bias, no rope, MHA
                                           LayerCase{false, false, 2},  // no bias, no rope, GQA
                                           LayerCase{true, true, 4}));  // bias, rope, MHA (kv = heads)

TEST(SelfAttention, Float32AgreesWithFloat64) {
  const ModelConfig cfg = small_config(true, true, 2);
  auto be64 = make_cpu_backend<double>();
  auto be32 = make_cpu_backend<float>();
  ParameterSet<double> ps64;
  ParameterSet<float> ps32;
  SelfAttention<double> attn64(ps64, kPrefix, cfg);
  SelfAttention<float> attn32(ps32, kPrefix, cfg);
  fill_params(ps64);
  for (auto& p : ps64) {
    Parameter<float>& q = ps32.at(p.name);
    for (int64_t i = 0; i < p.value.numel(); ++i) q.value[i] = static_cast<float>(p.value[i]);
  }
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 37;
  const int64_t N = 74;
  Tensor<double> x({N, 16}), w({N, 16}), y({N, 16}), dx({N, 16});
  Tensor<float> xf({N, 16}), wf({N, 16}), yf({N, 16}), dxf({N, 16});
  test::fill_normal(x, 5);
  test::fill_normal(w, 6);
  for (int64_t i = 0; i < x.numel(); ++i) {
    xf[i] = static_cast<float>(x[i]);
    wf[i] = static_cast<float>(w[i]);
  }
  attn64.forward(be64, ctx, x.data(), y.data());
  attn64.backward(be64, ctx, x.data(), w.data(), dx.data());
  attn32.forward(be32, ctx, xf.data(), yf.data());
  attn32.backward(be32, ctx, xf.data(), wf.data(), dxf.data());
  auto expect_close = [](const std::string& what, const double* a, const float* b, int64_t n) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst = std::max(worst, std::abs(a[i] - double(b[i])));
      scale = std::max(scale, std::abs(a[i]));
    }
    EXPECT_LT(worst, 1e-5 * scale) << what;
    EXPECT_GT(scale, 1e-3) << what;
  };
  expect_close("y", y.data(), yf.data(), y.numel());
  expect_close("dx", dx.data(), dxf.data(), dx.numel());
  for (auto& p : ps64) expect_close(p.name, p.grad.data(), ps32.at(p.name).grad.data(), p.grad.numel());
}

}  // namespace
}  // namespace sy
