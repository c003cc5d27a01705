// runtime/lr_schedule.h — lr_at: linear warm-up then cosine decay to min_lr.
#pragma once
#include <cstdint>

#include "runtime/config.h"

namespace sy {

// Learning rate of optimizer step s (1-based: the first update is s = 1), with
// L = train.lr, m = train.min_lr, W = train.warmup_steps, S = train.steps:
//
//   s <= W (W > 0):  lr(s) = L · s / W                      (s = 1 → L/W, s = W → L)
//   otherwise:       lr(s) = m + (L − m) · (1 + cos(π · q)) / 2,
//                    q = clamp((s − s0) / (S − s0), 0, 1),  s0 = max(W, 1)
//
// so the decay starts at exactly L at s0 (the last warm-up step, or step 1
// when W = 0) and reaches exactly m at s = S, then stays there for s > S.
// When S <= s0 there is nothing to decay over and q = 0 (lr = L).
// s < 1 is a caller bug (asserted).
double lr_at(const TrainConfig& train, int64_t step);

}  // namespace sy
