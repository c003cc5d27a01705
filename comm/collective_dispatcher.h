// comm/collective_dispatcher.h — CollectiveDispatcher<T>: the MoE Dispatcher over Collectives (EP all-to-alls, world all-reduce).
#pragma once
#include <memory>

#include "comm/collectives.h"
#include "model/dispatcher.h"

namespace sy {

template <class T>
struct StagingPool;

// Every call is one collective, issued whether or not this rank has rows:
//   exchange_counts   all_to_all_v over Group::ep, C·L int64 per peer (for each
//                     chunk c, the rows this rank sends to each of the peer's L experts)
//   start(move)       all_to_all_v over Group::ep of the rows (no padding)
//   allreduce_sum     all_reduce_sum over Group::world
// Rows arrive source-major (peer 0's block, then peer 1's, ...; inside a block by
// the receiver's local expert, as the sender's plan groups them).  Expert-bound
// moves land in a staging buffer and are regrouped into ExpertLayout's
// expert-major order when finished; sender-bound moves pack expert-major rows
// source-major before sending, and land directly in the caller's buffer in plan
// order.  With one peer or one local expert both orders coincide and the staging
// copy is skipped.  Landing and staging buffers are reused without zero fills
// (every row is written before it is read).
template <class T>
class CollectiveDispatcher final : public Dispatcher<T> {
 public:
  explicit CollectiveDispatcher(Collectives& comm);

  using Dispatcher<T>::exchange_counts;
  int ep_size() const override { return ep_size_; }
  int ep_rank() const override { return ep_rank_; }
  std::vector<ExpertLayout> exchange_counts(std::span<const DispatchPlan> chunks, std::string_view label) override;
  RowTransfer<T> start(RowMove move, const ExpertLayout& layout, int64_t d, const T* rows, Tensor<T>& buffer,
                       std::string_view label) override;
  void allreduce_sum(double* x, int64_t n) override;

 private:
  Collectives& comm_;
  int ep_size_ = 1, ep_rank_ = 0;
  std::shared_ptr<StagingPool<T>> staging_;  // staging rows reused by every transfer (transfers share ownership)
};

}  // namespace sy
