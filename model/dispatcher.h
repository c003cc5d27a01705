// model/dispatcher.h — Dispatcher<T>: moves expert-sorted rows to the experts' EP ranks and back; LocalDispatcher (EP = 1).
#pragma once
#include <cstdint>
#include <vector>

#include "model/dispatch_plan.h"
#include "runtime/tensor.h"

namespace sy {

// What this rank's L local experts receive in one dispatch, agreed by exchange_counts.
// Received rows are grouped by local expert (rows of local expert j at
// expert_offsets[j] .. expert_offsets[j+1]) and, within an expert, by source
// EP rank q in ascending order — so one GEMM per local expert, and the combine
// can send every source its rows back in the order it sent them.
struct ExpertLayout {
  int ep_size = 1;
  int ep_rank = 0;
  int local_experts = 0;             // L
  std::vector<int64_t> send_counts;  // [ep_size] rows this rank sends to peer q (= plan.rank_counts)
  std::vector<int64_t> recv_counts;  // [ep_size · L] rows from source q for local expert j, at q·L + j
  std::vector<int64_t> expert_counts;   // [L] rows of local expert j (Σ over sources)
  std::vector<int64_t> expert_offsets;  // [L + 1]

  int64_t recv_rows() const { return expert_offsets.empty() ? 0 : expert_offsets.back(); }
  int64_t send_rows() const {
    int64_t s = 0;
    for (int64_t c : send_counts) s += c;
    return s;
  }
};

// The MoE layer's only door to other ranks (it never calls MPI itself).  Every
// method except ep_size/ep_rank is collective over the EP group (allreduce_sum:
// over the world): all ranks call them in the same order, also when they have no
// rows to send or receive, so an expert that receives zero rows still takes part.
//
// Row-moving calls take a caller-owned `buffer` the implementation may (re)size
// and fill, and return a pointer to the result: either buffer.data() or, when no
// movement is needed (LocalDispatcher), the input itself.  The result stays valid
// while the input and the buffer do.
//
// Directions: dispatch and combine_backward move sender-sorted rows [send_rows, d]
// to expert-grouped rows [recv_rows, d]; combine and dispatch_backward move them
// back.  (Each backward is the transpose of its forward, which for a permutation
// is the opposite move.)
template <class T>
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual int ep_size() const = 0;
  virtual int ep_rank() const = 0;

  // Learns how many rows every local expert receives from every EP peer.
  virtual ExpertLayout exchange_counts(const DispatchPlan& plan) = 0;

  virtual const T* dispatch(const ExpertLayout& layout, int64_t d, const T* send, Tensor<T>& buffer) = 0;
  virtual const T* combine(const ExpertLayout& layout, int64_t d, const T* expert_out, Tensor<T>& buffer) = 0;
  virtual const T* combine_backward(const ExpertLayout& layout, int64_t d, const T* d_back, Tensor<T>& buffer) = 0;
  virtual const T* dispatch_backward(const ExpertLayout& layout, int64_t d, const T* d_recv, Tensor<T>& buffer) = 0;

  // x[i] = Σ over all ranks of the world of x[i]: global router statistics
  // (aux_loss_scope = global) and loss-free balancing counts.
  virtual void allreduce_sum(double* x, int64_t n) = 0;
};

// EP = 1 in one process: every expert is local, rows never move, nothing is copied.
template <class T>
class LocalDispatcher final : public Dispatcher<T> {
 public:
  int ep_size() const override { return 1; }
  int ep_rank() const override { return 0; }
  ExpertLayout exchange_counts(const DispatchPlan& plan) override;
  const T* dispatch(const ExpertLayout&, int64_t, const T* send, Tensor<T>&) override { return send; }
  const T* combine(const ExpertLayout&, int64_t, const T* expert_out, Tensor<T>&) override { return expert_out; }
  const T* combine_backward(const ExpertLayout&, int64_t, const T* d_back, Tensor<T>&) override { return d_back; }
  const T* dispatch_backward(const ExpertLayout&, int64_t, const T* d_recv, Tensor<T>&) override { return d_recv; }
  void allreduce_sum(double*, int64_t) override {}
};

// The layout when this rank is the only source (what LocalDispatcher returns).
ExpertLayout single_rank_layout(const DispatchPlan& plan);

}  // namespace sy
