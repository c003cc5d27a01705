// runtime/cuda/cuda_training.cpp — make_cuda_training_backend: the trainer's backend on one GPU.
//
// Model code keeps host logic between ops (routing plans from the router's
// choices, aux statistics, MPI transfers from the comm thread, checkpoint I/O), so
// this first CUDA training path makes every Tensor CUDA managed memory and ends
// every op with a stream synchronisation: whatever host code reads between ops is
// complete, and nothing it writes races a kernel.  (Collectives on tensors run on
// NCCL's own stream: comm/device_transport.h.)  Correct first; a device-resident
// fast path would replace the synchronisation op by op.
#include <cstdio>
#include <string>

#include "runtime/cuda/cuda_backend.h"
#include "runtime/device.h"
#include "runtime/hooked_backend.h"
#include "runtime/tensor.h"

namespace sy {
namespace {

void* managed_allocate(size_t bytes) {
  void* p = nullptr;
  SY_GPU(cudaMallocManaged(&p, bytes, cudaMemAttachGlobal));
  return p;
}
void managed_release(void* p) { (void)cudaFree(p); }  // destructors cannot throw; a failing free means a lost context
void managed_zero(void* p, size_t bytes) {
  SY_GPU(cudaMemset(p, 0, bytes));
  SY_GPU(cudaDeviceSynchronize());  // host code may read the zeros next
}

// After every op: wait for the rank's stream, so host code between ops sees finished results.
class SynchroniseEveryOp final : public OpHooks {
 public:
  explicit SynchroniseEveryOp(std::shared_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}
  void after(const char*) override { SY_GPU(cudaStreamSynchronize(ctx_->s())); }

 private:
  std::shared_ptr<CudaContext> ctx_;
};

}  // namespace

Backend<float> make_cuda_training_backend(int device) {
  SY_GPU(cudaSetDevice(device));
  cudaDeviceProp prop{};
  SY_GPU(cudaGetDeviceProperties(&prop, device));
  int concurrent = 0;
  SY_GPU(cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, device));
  if (!concurrent)
    throw ConfigError("train.device = cuda: GPU " + std::to_string(device) + " (" + prop.name +
                      ") has no concurrent managed memory access, which the CUDA training path needs (Linux, "
                      "compute capability 6.0 or newer)");
  set_tensor_memory(TensorMemory{"cuda-managed", &managed_allocate, &managed_release, &managed_zero});
  auto ctx = CudaContext::create(device);
  Backend<float> be = hook_backend(make_cuda_backend<float>(ctx), std::make_shared<SynchroniseEveryOp>(ctx));
  be.name = "cuda";
  return be;
}

}  // namespace sy
