// runtime/cpu/cpu_moe_ops.h — CpuMoeOps<T>: MoeOps on the host.
#pragma once
#include "runtime/ops/moe_ops.h"

namespace sy {

template <class T>
class CpuMoeOps final : public MoeOps<T> {
 public:
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
};

}  // namespace sy
