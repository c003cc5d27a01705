// runtime/cuda/cuda_context.cpp — CudaContext::create: the device, stream, cuBLASLt handle and workspace of a rank.
#include "runtime/cuda/cuda_handles.h"

namespace sy {

std::shared_ptr<CudaContext> CudaContext::create(int device, int64_t workspace_bytes) {
  SY_GPU(cudaSetDevice(device));
  auto ctx = std::make_shared<CudaContext>();
  ctx->device = device;
  ctx->stream = make_stream();
  cublasLtHandle_t lt = nullptr;
  SY_GPU(cublasLtCreate(&lt));
  ctx->lt = LtHandle(lt);
  ctx->workspace = DeviceBuffer<std::byte>(workspace_bytes);
  return ctx;
}

}  // namespace sy
