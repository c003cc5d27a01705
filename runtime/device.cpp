// runtime/device.cpp — the train.device decisions: refusal messages and the GPU of each rank.
#include "runtime/device.h"

#include "runtime/error.h"

namespace sy {

std::string device_refusal(DeviceKind device, const CudaProbe& probe) {
  if (device != DeviceKind::cuda) return "";
  if (!probe.built)
    return "train.device = cuda: this build has no CUDA backend (configure with -DSWITCHYARD_CUDA=ON)";
  if (probe.device_count <= 0)
    return "train.device = cuda: no usable CUDA device (" +
           (probe.error.empty() ? std::string("the CUDA runtime reports 0 devices") : probe.error) + ")";
  return "";
}

void require_usable_device(DeviceKind device) {
  if (device != DeviceKind::cuda) return;
  const std::string reason = device_refusal(device, probe_cuda());
  if (!reason.empty()) throw ConfigError(reason);
}

int device_for_local_rank(int local_rank, int ranks_on_node, int device_count, const std::string& host) {
  SY_ASSERT(local_rank >= 0 && local_rank < ranks_on_node, "local rank outside its node");
  if (ranks_on_node > device_count)
    throw ConfigError("train.device = cuda: " + std::to_string(ranks_on_node) + " ranks on " + host + " but " +
                      std::to_string(device_count) + " visible CUDA device(s); one GPU per rank (start at most " +
                      std::to_string(device_count) + " ranks per node)");
  return local_rank;
}

}  // namespace sy
