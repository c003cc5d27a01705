// runtime/cuda/cuda_moe_ops.h — CudaMoeOps<T>: router softmax/top-k/statistics/backward and row permutation on one GPU.
#pragma once
#include <memory>

#include "runtime/cuda/cuda_core_ops.h"
#include "runtime/ops/moe_ops.h"

namespace sy {

// Same semantics as CpuMoeOps.  Router kernels run one thread per token (E is
// small); the top-k selection keeps the CPU's order and tie rule exactly.
// scatter_add_rows and combine_rows add with atomics (a token's rows arrive in
// no fixed order); the rest is deterministic.  router_statistics returns its sums
// to host memory, as the interface says.
template <class T>
class CudaMoeOps final : public MoeOps<T> {
 public:
  explicit CudaMoeOps(std::shared_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}

  void router_softmax(int64_t N, int64_t E, const T* logits, T* probs, T* lse) const override;
  void router_topk(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias, bool normalize,
                   int32_t* expert, T* gate) const override;
  void router_statistics(int64_t N, int64_t E, const T* probs, const T* lse, double* prob_sum, double* lse_sq_sum,
                         double* entropy_sum) const override;
  void router_backward(int64_t N, int64_t E, int k, const T* probs, const T* lse, const int32_t* expert,
                       const T* dgate, bool normalize, const T* aux_dprob, T z_scale, T* dlogits) const override;
  void router_jitter(int64_t n, const T* x, const T* mult, T* out) const override;
  void gather_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const override;
  void scatter_add_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const override;
  void combine_rows(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                    const T* rows, T* y) const override;
  void combine_rows_backward(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                             const T* rows, const T* dy, T* drows, T* dgate) const override;

 private:
  std::shared_ptr<CudaContext> ctx_;
};

}  // namespace sy
