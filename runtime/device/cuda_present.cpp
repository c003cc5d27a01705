// runtime/device/cuda_present.cpp — runtime/device.h for builds with the CUDA backend: asks the CUDA runtime.
#include <cuda_runtime_api.h>

#include "runtime/device.h"

namespace sy {

bool cuda_backend_built() { return true; }

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.built = true;
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    // Clears the sticky error so a later probe asks afresh.
    cudaGetLastError();
    probe.error = std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc);
    return probe;
  }
  probe.device_count = count;
  if (count == 0) probe.error = "the CUDA runtime reports 0 devices";
  return probe;
}

}  // namespace sy
