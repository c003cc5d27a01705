// comm/device_transport/nccl_absent.cpp — comm/device_transport.h for builds without the CUDA backend.
#include "comm/device_transport.h"
#include "runtime/error.h"

namespace sy {

std::unique_ptr<Transport> make_device_transport(std::unique_ptr<Transport>, const ParallelGrid&, int) {
  throw ConfigError("train.device = cuda: this build has no CUDA backend (configure with -DSWITCHYARD_CUDA=ON)");
}

}  // namespace sy
