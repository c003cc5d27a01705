// model/step_context.h — StepContext: what a layer's forward/backward needs to know about the current micro-batch.
#pragma once
#include <cstdint>

namespace sy {

struct StepContext {
  int64_t batch = 0;    // sequences in this micro-batch (on this rank)
  int64_t seq_len = 0;  // tokens per sequence; activations are [batch * seq_len, d] row-major
  bool training = true;  // false for eval/generate: no router noise, dropless
  uint64_t seed = 0;
  int64_t step = 0;          // optimizer step (noise keys)
  int64_t first_sample = 0;  // global index of this micro-batch's first sequence (noise keys)
  // d(step loss)/d(this micro-batch's loss): 1 / (micro-batches in the global step).
  double loss_scale = 1.0;

  int64_t tokens() const { return batch * seq_len; }
};

}  // namespace sy
