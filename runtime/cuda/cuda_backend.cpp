// runtime/cuda/cuda_backend.cpp — assembles the CUDA implementations of every op group.
#include "runtime/cuda/cuda_backend.h"

#include "runtime/cuda/cuda_attention_ops.h"
#include "runtime/cuda/cuda_moe_ops.h"
#include "runtime/cuda/cuda_nn_ops.h"

namespace sy {

template <class T>
Backend<T> make_cuda_backend(std::shared_ptr<CudaContext> ctx) {
  Backend<T> be;
  be.name = "cuda";
  be.core = std::make_unique<CudaCoreOps<T>>(ctx);
  be.nn = std::make_unique<CudaNnOps<T>>(ctx);
  be.attn = std::make_unique<CudaAttentionOps<T>>(ctx);
  be.moe = std::make_unique<CudaMoeOps<T>>(ctx);
  return be;
}

template Backend<float> make_cuda_backend<float>(std::shared_ptr<CudaContext>);
template Backend<bf16> make_cuda_backend<bf16>(std::shared_ptr<CudaContext>);

}  // namespace sy
