// launch/training_backend.h — the backend a training rank computes with, chosen by train.device and train.precision.
#pragma once
#include <string>

#include "runtime/backend.h"
#include "runtime/config.h"

namespace sy {

// Where a rank runs: its index among the ranks of its node (one GPU each).
struct RankPlacement {
  int local_rank = 0;
  int ranks_on_node = 1;
  std::string host = "localhost";
};

// The GPU of a rank: its index among the ranks of its node (ConfigError when the node
// has fewer visible devices than ranks).
int rank_device(const RankPlacement& where);

// Throws ConfigError (exit 2) with a one-line reason when train.device or its
// combination with train.precision cannot be used here: bf16 with cuda (the CUDA
// training path computes in fp32; checked first), cuda without a CUDA build or device.
void require_usable_training_device(const TrainConfig& train);

// cpu: the CPU backend with `threads` and train.precision.  cuda: GPU
// device_for_local_rank(...) through make_cuda_training_backend — which makes every
// tensor allocated afterwards CUDA managed memory, so call it before building the model.
Backend<float> make_training_backend(const TrainConfig& train, int threads, const RankPlacement& where = {});

}  // namespace sy
