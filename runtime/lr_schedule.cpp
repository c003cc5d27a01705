// runtime/lr_schedule.cpp — lr_at (formula in the header).
#include "runtime/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "runtime/error.h"

namespace sy {

double lr_at(const TrainConfig& train, int64_t step) {
  SY_ASSERT(step >= 1, "optimizer steps are numbered from 1");
  const int64_t warmup = std::max<int64_t>(train.warmup_steps, 0);
  if (step <= warmup)
    return train.lr * static_cast<double>(step) / static_cast<double>(warmup);
  const int64_t s0 = std::max<int64_t>(warmup, 1);
  double q = 0.0;
  if (train.steps > s0)
    q = std::clamp(static_cast<double>(step - s0) / static_cast<double>(train.steps - s0), 0.0, 1.0);
  // w = 1 at q = 0 and exactly 0 at q = 1 (cos(pi) rounds to -1).  Offsetting
  // from the nearer end keeps both ends exact (lr at q = 0, min_lr at q = 1)
  // and a flat schedule (min_lr == lr) exactly flat.
  const double w = 0.5 * (1.0 + std::cos(std::numbers::pi * q));
  const double span = train.lr - train.min_lr;
  return w >= 0.5 ? train.lr - span * (1.0 - w) : train.min_lr + span * w;
}

}  // namespace sy
