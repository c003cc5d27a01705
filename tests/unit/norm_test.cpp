// tests/unit/norm_test.cpp — Norm<T>: parameter registration, eps per kind, backward by finite differences.
#include "model/norm.h"

#include <cmath>

#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

TEST(Norm, LayerNormRegistersWeightAndBiasWithoutDecay) {
  ParameterSet<double> ps;
  Norm<double> norm(ps, "decoder/layers/0/self_attn_layer_norm", 6, NormKind::layernorm);
  init_parameters(ps, 1);
  ASSERT_EQ(ps.size(), 2u);
  auto& w = ps.at("decoder/layers/0/self_attn_layer_norm/weight");
  auto& b = ps.at("decoder/layers/0/self_attn_layer_norm/bias");
  EXPECT_EQ(w.value.shape(), (Shape{6}));
  EXPECT_EQ(b.value.shape(), (Shape{6}));
  EXPECT_FALSE(w.weight_decay);
  EXPECT_FALSE(b.weight_decay);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(w.value[i], 1.0);
    EXPECT_EQ(b.value[i], 0.0);
  }
  EXPECT_EQ(norm.eps(), 1e-5);
}

TEST(Norm, RmsNormRegistersWeightOnly) {
  ParameterSet<float> ps;
  Norm<float> norm(ps, "decoder/layer_norm", 6, NormKind::rmsnorm);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(norm.bias(), nullptr);
  EXPECT_FALSE(ps.at("decoder/layer_norm/weight").weight_decay);
  EXPECT_EQ(norm.eps(), 1e-6);
}

// A constant row has zero variance, so the output exposes eps exactly.
TEST(Norm, EpsEntersTheForward) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Norm<double> ln(ps, "ln", 4, NormKind::layernorm);
  Norm<double> rms(ps, "rms", 4, NormKind::rmsnorm);
  init_parameters(ps, 1);
  Tensor<double> x({2, 4}), y({2, 4});
  for (int i = 0; i < 4; ++i) x[i] = 1e-3;      // row 0: constant
  for (int i = 0; i < 4; ++i) x[4 + i] = i - 1.5;  // row 1: mean 0, variance 1.25
  rms.forward(be, x.data(), 2, y.data());
  EXPECT_NEAR(y[0], 1e-3 / std::sqrt(1e-6 + 1e-6), 1e-12);
  EXPECT_NEAR(y[4], -1.5 / std::sqrt(1.25 + 1e-6), 1e-12);
  ln.forward(be, x.data(), 2, y.data());
  EXPECT_EQ(y[0], 0.0);
  EXPECT_NEAR(y[4], -1.5 / std::sqrt(1.25 + 1e-5), 1e-12);
}

class NormGrad : public ::testing::TestWithParam<NormKind> {};

TEST_P(NormGrad, BackwardMatchesFiniteDifferences) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Norm<double> norm(ps, "decoder/layers/0/final_layer_norm", 5, GetParam());
  for (auto& p : ps) test::fill_normal(p.value, fnv1a(p.name), 0.8);  // non-trivial weight and bias
  const int64_t N = 3;
  Tensor<double> x({N, 5}), y({N, 5}), w({N, 5}), dx({N, 5});
  test::fill_normal(x, 1, 1.5);
  test::fill_normal(w, 2);
  auto loss = [&] {
    norm.forward(be, x.data(), N, y.data());
    return test::weighted_sum(y.data(), w.data(), y.numel());
  };
  loss();
  ps.zero_grad();
  norm.backward(be, x.data(), w.data(), N, dx.data());
  test::expect_gradient("dx", x.data(), x.numel(), dx.data(), loss);
  for (auto& p : ps) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss);

  // Parameter gradients accumulate over a second backward.
  Tensor<double> first({5});
  for (int i = 0; i < 5; ++i) first[i] = norm.weight()->grad[i];
  loss();
  norm.backward(be, x.data(), w.data(), N, dx.data());
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(norm.weight()->grad[i], 2 * first[i], 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Kinds, NormGrad, ::testing::Values(NormKind::layernorm, NormKind::rmsnorm));

}  // namespace
}  // namespace sy
