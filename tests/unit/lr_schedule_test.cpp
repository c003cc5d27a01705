// tests/unit/lr_schedule_test.cpp — lr_at: exact values at the warm-up and decay boundaries.
#include "runtime/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace sy {
namespace {

TrainConfig schedule(int64_t steps, int64_t warmup, double lr = 1e-3, double min_lr = 1e-4) {
  TrainConfig t;
  t.steps = steps;
  t.warmup_steps = warmup;
  t.lr = lr;
  t.min_lr = min_lr;
  return t;
}

TEST(LrSchedule, LinearWarmupThenCosineToMinLr) {
  const TrainConfig t = schedule(100, 10);
  EXPECT_DOUBLE_EQ(lr_at(t, 1), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(t, 5), 5e-4);
  EXPECT_EQ(lr_at(t, 10), 1e-3);  // end of warm-up: exactly lr
  // First decay step: q = 1/90.
  const double w11 = 0.5 * (1.0 + std::cos(std::numbers::pi / 90.0));
  EXPECT_DOUBLE_EQ(lr_at(t, 11), 1e-4 + (1e-3 - 1e-4) * w11);
  EXPECT_NEAR(lr_at(t, 55), 0.5 * (1e-3 + 1e-4), 1e-18);  // q = 1/2
  EXPECT_EQ(lr_at(t, 100), 1e-4);  // last step: exactly min_lr
  EXPECT_EQ(lr_at(t, 101), 1e-4);  // past the end it stays there
  EXPECT_EQ(lr_at(t, 1000), 1e-4);
  for (int64_t s = 2; s <= 10; ++s) EXPECT_GT(lr_at(t, s), lr_at(t, s - 1));
  for (int64_t s = 11; s <= 100; ++s) EXPECT_LT(lr_at(t, s), lr_at(t, s - 1));
}

TEST(LrSchedule, NoWarmupStartsAtLr) {
  const TrainConfig t = schedule(51, 0);
  EXPECT_EQ(lr_at(t, 1), 1e-3);
  EXPECT_NEAR(lr_at(t, 26), 0.5 * (1e-3 + 1e-4), 1e-18);  // q = 25/50
  EXPECT_EQ(lr_at(t, 51), 1e-4);
}

TEST(LrSchedule, WarmupOfOneStep) {
  const TrainConfig t = schedule(11, 1);
  EXPECT_EQ(lr_at(t, 1), 1e-3);
  EXPECT_NEAR(lr_at(t, 6), 0.5 * (1e-3 + 1e-4), 1e-18);
  EXPECT_EQ(lr_at(t, 11), 1e-4);
}

TEST(LrSchedule, DegenerateLengths) {
  // Training shorter than warm-up: only the ramp is ever used.
  const TrainConfig shorter = schedule(5, 10);
  EXPECT_DOUBLE_EQ(lr_at(shorter, 5), 5e-4);
  // One step, no warm-up: nothing to decay over.
  EXPECT_EQ(lr_at(schedule(1, 0), 1), 1e-3);
  // Steps equal to warm-up: the last step is the peak.
  EXPECT_EQ(lr_at(schedule(10, 10), 10), 1e-3);
  // Constant schedule when min_lr == lr.
  const TrainConfig flat = schedule(20, 0, 3e-4, 3e-4);
  for (int64_t s = 1; s <= 20; ++s) EXPECT_EQ(lr_at(flat, s), 3e-4);
}

}  // namespace
}  // namespace sy
