// model/dispatcher.cpp — LocalDispatcher and the single-source ExpertLayout.
#include "model/dispatcher.h"

#include "runtime/error.h"

namespace sy {

ExpertLayout single_rank_layout(const DispatchPlan& plan) {
  SY_ASSERT(plan.ep_size == 1, "a single-rank layout needs a plan for ep_size 1");
  ExpertLayout layout;
  layout.ep_size = 1;
  layout.ep_rank = 0;
  layout.local_experts = plan.num_experts;
  layout.send_counts = plan.rank_counts;
  layout.recv_counts = plan.counts;
  layout.expert_counts = plan.counts;
  layout.expert_offsets = plan.offsets;
  return layout;
}

template <class T>
ExpertLayout LocalDispatcher<T>::exchange_counts(const DispatchPlan& plan) {
  return single_rank_layout(plan);
}

template class LocalDispatcher<float>;
template class LocalDispatcher<double>;

}  // namespace sy
