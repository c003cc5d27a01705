// runtime/device/cuda_absent.cpp — runtime/device.h for builds without the CUDA backend (CMake picks this file or cuda_present.cpp).
#include "runtime/device.h"

namespace sy {

bool cuda_backend_built() { return false; }

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.error = "this build has no CUDA backend";
  return probe;
}

}  // namespace sy
