// tests/unit/optimizer_test.cpp — AdamW against values computed by torch.optim.AdamW; clipping factor.
#include "runtime/optimizer.h"

#include <gtest/gtest.h>

namespace sy {
namespace {

TEST(AdamW, MatchesTorchAdamWOverThreeSteps) {
  // Expected values: torch 1.13 torch.optim.AdamW(lr=0.1, betas=(0.9, 0.95), eps=1e-8),
  // weight_decay 0.1 on `w`, 0 on `b`, float64, the gradients below.
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  auto& w = ps.add("w", {3}, InitSpec::Zeros(), true);
  auto& b = ps.add("b", {2}, InitSpec::Zeros(), false);
  const double w0[] = {1.0, -2.0, 0.5}, b0[] = {0.3, -0.1};
  std::copy(w0, w0 + 3, w.value.data());
  std::copy(b0, b0 + 2, b.value.data());
  TrainConfig cfg;
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.95;
  cfg.eps = 1e-8;
  cfg.weight_decay = 0.1;
  AdamW<double> opt(ps, cfg);
  const double gw[3][3] = {{0.5, -1.0, 2.0}, {-0.3, 0.4, 0.1}, {1.5, 0.0, -2.0}};
  const double gb[3][2] = {{1.0, 0.2}, {0.0, -0.5}, {0.25, 0.25}};
  for (int s = 0; s < 3; ++s) {
    std::copy(gw[s], gw[s] + 3, w.grad.data());
    std::copy(gb[s], gb[s] + 2, b.grad.data());
    opt.step(be, 0.1, 1.0);
  }
  const double ew[] = {0.7895458975368157, -1.7807464450014039, 0.3228614837699031};
  const double eb[] = {0.0648862418342688, -0.15209044123449583};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(w.value[i], ew[i], 1e-14);
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(b.value[i], eb[i], 1e-14);
  EXPECT_EQ(opt.steps_taken(), 3);
}

TEST(AdamW, GradScaleEqualsScaledGradients) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> a, b;
  auto& pa = a.add("p", {2}, InitSpec::Zeros());
  auto& pb = b.add("p", {2}, InitSpec::Zeros());
  pa.grad[0] = 1.0, pa.grad[1] = -3.0;
  pb.grad[0] = 0.25, pb.grad[1] = -0.75;
  TrainConfig cfg;
  AdamW<double> oa(a, cfg), ob(b, cfg);
  oa.step(be, 0.01, 0.25);
  ob.step(be, 0.01, 1.0);
  EXPECT_DOUBLE_EQ(pa.value[0], pb.value[0]);
  EXPECT_DOUBLE_EQ(pa.value[1], pb.value[1]);
}

TEST(AdamW, SkipsNonTrainableBuffers) {
  ParameterSet<float> ps;
  ps.add("p", {2}, InitSpec::Zeros());
  ps.add("buffer", {2}, InitSpec::Zeros()).trainable = false;
  AdamW<float> opt(ps, TrainConfig{});
  ASSERT_EQ(opt.moments().size(), 1u);
  EXPECT_EQ(opt.moments()[0].param->name, "p");
}

TEST(ClipFactor, FollowsTorchClipGradNorm) {
  EXPECT_DOUBLE_EQ(clip_factor(0.5, 1.0), 1.0);
  EXPECT_NEAR(clip_factor(4.0, 1.0), 1.0 / (4.0 + 1e-6), 1e-15);
  EXPECT_DOUBLE_EQ(clip_factor(100.0, 0.0), 1.0);
}

}  // namespace
}  // namespace sy
