// tests/unit/mlp_test.cpp — Mlp<T> (gelu, relu, swiglu; with and without bias; as an expert) by finite differences.
#include "model/mlp.h"

#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

struct MlpCase {
  Activation act;
  bool bias;
};

class MlpGrad : public ::testing::TestWithParam<MlpCase> {};

TEST_P(MlpGrad, BackwardMatchesFiniteDifferences) {
  const auto [act, bias] = GetParam();
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Mlp<double> mlp(ps, "decoder/layers/0", 4, 6, act, bias);
  init_parameters(ps, 7);
  for (auto& p : ps) test::fill_normal(p.value, fnv1a(p.name), 0.5);  // biases non-zero too
  const int64_t N = 5;
  Tensor<double> x({N, 4}), y({N, 4}), w({N, 4}), dx({N, 4});
  test::fill_normal(x, 3);
  test::fill_normal(w, 4);
  MlpActivations<double> acts;
  auto loss = [&] {
    MlpActivations<double> scratch;
    mlp.forward(be, x.data(), N, y.data(), scratch);
    return test::weighted_sum(y.data(), w.data(), y.numel());
  };
  mlp.forward(be, x.data(), N, y.data(), acts);
  ps.zero_grad();
  mlp.backward(be, x.data(), w.data(), N, dx.data(), acts);
  test::expect_gradient("dx", x.data(), x.numel(), dx.data(), loss);
  for (auto& p : ps) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss);
  EXPECT_EQ(ps.size(), size_t((act == Activation::swiglu ? 3 : 2) * (bias ? 2 : 1)));
}

INSTANTIATE_TEST_SUITE_P(All, MlpGrad,
                         ::testing::Values(MlpCase{Activation::gelu, true}, MlpCase{Activation::relu, false},
                                           MlpCase{Activation::swiglu, true}, MlpCase{Activation::swiglu, false}));

TEST(Mlp, ExpertParametersAreTagged) {
  ParameterSet<float> ps;
  Mlp<float> mlp(ps, "decoder/layers/1/moe_layer/experts/5", 4, 6, Activation::swiglu, true, ExpertTag{1, 5});
  for (auto& p : ps) {
    EXPECT_EQ(p.group, ParamGroup::expert) << p.name;
    EXPECT_EQ(p.layer, 1);
    EXPECT_EQ(p.expert, 5);
  }
  EXPECT_FALSE(ps.at("decoder/layers/1/moe_layer/experts/5/fc1/bias").weight_decay);
  EXPECT_EQ(ps.at("decoder/layers/1/moe_layer/experts/5/fc1/weight").value.shape(), (Shape{6, 4}));
  EXPECT_EQ(ps.at("decoder/layers/1/moe_layer/experts/5/fc2/weight").value.shape(), (Shape{4, 6}));
}

}  // namespace
}  // namespace sy
