// runtime/cuda/cuda_backend.h — make_cuda_backend: every op group on one GPU (builds with the CUDA backend only).
#pragma once
#include <memory>

#include "runtime/backend.h"
#include "runtime/cuda/cuda_core_ops.h"

namespace sy {

// The op groups share `ctx` (device, stream, cuBLASLt handle, workspace); every
// pointer they take is device memory.  T = float or bf16 (storage; float math).
template <class T>
Backend<T> make_cuda_backend(std::shared_ptr<CudaContext> ctx);

}  // namespace sy
