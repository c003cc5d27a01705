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
  ExpertLayout layout;
  single_rank_layout_into(plan, layout);
  return layout;
}

void single_rank_layout_into(const DispatchPlan& plan, ExpertLayout& layout) {
  SY_ASSERT(plan.ep_size == 1, "a single-rank layout needs a plan for ep_size 1");
  layout.ep_size = 1;
  layout.ep_rank = 0;
  layout.local_experts = plan.num_experts;
  // Copy-assignment reuses the vectors' capacity.
  layout.send_counts = plan.rank_counts;
  layout.recv_counts = plan.counts;
  layout.expert_counts = plan.counts;
  layout.expert_offsets = plan.offsets;
}

template <class T>
std::vector<ExpertLayout> LocalDispatcher<T>::exchange_counts(std::span<const DispatchPlan> chunks, std::string_view) {
  std::vector<ExpertLayout> layouts;
  layouts.reserve(chunks.size());
  for (const DispatchPlan& plan : chunks) layouts.push_back(single_rank_layout(plan));
  return layouts;
}

template <class T>
void LocalDispatcher<T>::exchange_counts_into(std::span<const DispatchPlan> chunks, std::string_view,
                                              std::vector<ExpertLayout>& out) {
  out.resize(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) single_rank_layout_into(chunks[c], out[c]);
}

template class LocalDispatcher<float>;
template class LocalDispatcher<double>;

}  // namespace sy
