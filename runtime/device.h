// runtime/device.h — which compute devices this build and this machine offer, and the decision on train.device.
//
// One interface, two implementations chosen by CMake (no #ifdef): runtime/device/cuda_present.cpp
// in builds with the CUDA backend, runtime/device/cuda_absent.cpp otherwise.  The decisions
// themselves (runtime/device.cpp) are pure functions, tested on any machine.
#pragma once
#include <string>

#include "runtime/backend.h"
#include "runtime/config.h"

namespace sy {

// What the CUDA runtime reports on this machine.
struct CudaProbe {
  bool built = false;     // this binary contains the CUDA backend
  int device_count = 0;   // devices the runtime sees (CUDA_VISIBLE_DEVICES applies)
  std::string error;      // why there are none: the runtime's error string, or why it was not asked
};

// --- implemented by the CUDA backend or by the stub -------------------------------------
bool cuda_backend_built();
// Asks the CUDA runtime (cudaGetDeviceCount); never throws.
CudaProbe probe_cuda();

// The CUDA training backend on GPU `device`: sets the device, makes Tensor storage CUDA
// managed memory (set_tensor_memory; host code such as routing plans and MPI reads
// it too), and wraps the CUDA op groups so every op ends with a stream
// synchronisation — host code may touch any tensor between ops.  Throws ConfigError
// (exit 2) when the build has no CUDA backend or the GPU lacks concurrent managed
// access (needed because the comm thread reads tensors while kernels run).
// Call before the model allocates any tensor.
Backend<float> make_cuda_training_backend(int device);

// --- pure decisions (runtime/device.cpp) -------------------------------------------------

// Empty when train.device = `device` can be used, else the one-line reason (exit code 2):
//   "train.device = cuda: this build has no CUDA backend (configure with -DSWITCHYARD_CUDA=ON)"
//   "train.device = cuda: no usable CUDA device (<runtime error>)"
std::string device_refusal(DeviceKind device, const CudaProbe& probe);

// Throws ConfigError with device_refusal's text when it is not empty (probes CUDA only for cuda).
void require_usable_device(DeviceKind device);

// One GPU per rank, chosen by the rank's index among the ranks of its node.  Throws
// ConfigError when the node has fewer devices than ranks ("train.device = cuda: ...").
int device_for_local_rank(int local_rank, int ranks_on_node, int device_count, const std::string& host);

}  // namespace sy
