// launch/training_backend.cpp — train.device / train.precision → the rank's backend.
#include "launch/training_backend.h"

#include "runtime/device.h"
#include "runtime/error.h"

namespace sy {

int rank_device(const RankPlacement& where) {
  return device_for_local_rank(where.local_rank, where.ranks_on_node, probe_cuda().device_count, where.host);
}

void require_usable_training_device(const TrainConfig& train) {
  // The configuration's own contradiction first: it is the same answer on every machine.
  if (train.device == DeviceKind::cuda && train.precision != Precision::fp32)
    throw ConfigError("train.precision = bf16 with train.device = cuda: the CUDA training path computes in fp32 "
                      "(its bf16 kernels are not wired into training); use train.precision = fp32");
  require_usable_device(train.device);
}

Backend<float> make_training_backend(const TrainConfig& train, int threads, const RankPlacement& where) {
  require_usable_training_device(train);
  if (train.device == DeviceKind::cuda) return make_cuda_training_backend(rank_device(where));
  return make_cpu_backend<float>(threads, train.precision);
}

}  // namespace sy
