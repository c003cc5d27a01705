// model/dispatcher.cpp — row-move names, LocalDispatcher and the single-source ExpertLayout.
#include "model/dispatcher.h"

#include "runtime/error.h"

namespace sy {

const char* row_move_name(RowMove move) {
  switch (move) {
    case RowMove::dispatch: return "dispatch";
    case RowMove::combine: return "combine";
    case RowMove::combine_backward: return "combine_backward";
    case RowMove::dispatch_backward: return "dispatch_backward";
  }
  return "?";
}

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
std::vector<ExpertLayout> LocalDispatcher<T>::exchange_counts(std::span<const DispatchPlan> chunks, std::string_view) {
  std::vector<ExpertLayout> layouts;
  layouts.reserve(chunks.size());
  for (const DispatchPlan& plan : chunks) layouts.push_back(single_rank_layout(plan));
  return layouts;
}

template class LocalDispatcher<float>;
template class LocalDispatcher<double>;

}  // namespace sy
