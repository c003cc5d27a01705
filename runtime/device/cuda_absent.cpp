// runtime/device/cuda_absent.cpp — runtime/device.h for builds without the CUDA backend (CMake picks this file or cuda_present.cpp).
#include "runtime/device.h"
#include "runtime/error.h"

namespace sy {

bool cuda_backend_built() { return false; }

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.error = "this build has no CUDA backend";
  return probe;
}

Backend<float> make_cuda_training_backend(int) {
  throw ConfigError("train.device = cuda: this build has no CUDA backend (configure with -DSWITCHYARD_CUDA=ON)");
}

}  // namespace sy
