// model/dispatcher.h — Dispatcher<T>: moves expert-sorted rows to the experts' EP ranks and back; RowTransfer; LocalDispatcher.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
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

// The four row moves of one MoE layer step.  dispatch and combine_backward take
// sender-sorted rows [send_rows, d] (plan order) to expert-grouped rows
// [recv_rows, d] (ExpertLayout order); combine and dispatch_backward take them
// back.  (Each backward is the transpose of its forward, which for a permutation
// is the opposite move.)
enum class RowMove { dispatch, combine, combine_backward, dispatch_backward };
const char* row_move_name(RowMove move);
inline bool moves_to_experts(RowMove m) { return m == RowMove::dispatch || m == RowMove::combine_backward; }

// One row move, started by Dispatcher::start and completed by finish().  Move-only.
// Until finish() returns, the input rows and the caller's buffer belong to the
// move (another thread may be reading or writing them).  Destroying a transfer
// that is still in flight waits for it, so buffers are never written after
// their owner has moved on.
template <class T>
class RowTransfer {
 public:
  // An implementation's state of a move in flight.
  class InFlight {
   public:
    virtual ~InFlight() = default;
    // Waits for the move and returns its result rows; called at most once.
    virtual const T* complete() = 0;
  };

  RowTransfer() = default;
  // A move that needed no communication: `rows` is already the result.
  static RowTransfer done(const T* rows) {
    RowTransfer t;
    t.rows_ = rows;
    return t;
  }
  explicit RowTransfer(std::unique_ptr<InFlight> in_flight) : in_flight_(std::move(in_flight)) {}

  bool pending() const { return in_flight_ != nullptr; }
  // Blocks until the rows have arrived and returns them (the input itself, or
  // the buffer given to start); later calls return the same pointer.  Rethrows
  // the communication failure (CommError) of the move.
  const T* finish() {
    if (in_flight_) {
      std::unique_ptr<InFlight> f = std::move(in_flight_);
      rows_ = f->complete();
    }
    return rows_;
  }

 private:
  const T* rows_ = nullptr;
  std::unique_ptr<InFlight> in_flight_;
};

// The MoE layer's only door to other ranks (it never calls MPI itself).  Every
// method except ep_size/ep_rank is collective over the EP group (allreduce_sum:
// over the world): all ranks call them in the same order, also when they have no
// rows to send or receive, so an expert that receives zero rows still takes part.
//
// Row moves write into a caller-owned `buffer` the implementation may (re)size,
// and yield a pointer to the result: either buffer.data() or, when no movement
// is needed (LocalDispatcher), the input itself.  The result stays valid while
// the input and the buffer do.  start() returns at once; several moves may be in
// flight together (chunks), each with its own input and buffer, and they may be
// finished in any order.  `label` names the move in stall reports
// ("layer 3 chunk 1").
template <class T>
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual int ep_size() const = 0;
  virtual int ep_rank() const = 0;

  // Learns how many rows every local expert receives from every EP peer, for
  // each chunk's plan (one collective for all of them; blocking).
  virtual std::vector<ExpertLayout> exchange_counts(std::span<const DispatchPlan> chunks, std::string_view label) = 0;
  // The same into `out`, which implementations may fill reusing its capacity (the
  // MoE layer calls this every step; LocalDispatcher allocates nothing).
  virtual void exchange_counts_into(std::span<const DispatchPlan> chunks, std::string_view label,
                                    std::vector<ExpertLayout>& out) {
    out = exchange_counts(chunks, label);
  }

  virtual RowTransfer<T> start(RowMove move, const ExpertLayout& layout, int64_t d, const T* rows, Tensor<T>& buffer,
                               std::string_view label) = 0;

  // x[i] = Σ over all ranks of the world of x[i] (blocking): global router
  // statistics (aux_loss_scope = global) and loss-free balancing counts.
  virtual void allreduce_sum(double* x, int64_t n) = 0;

  // Blocking forms.
  ExpertLayout exchange_counts(const DispatchPlan& plan) {
    return std::move(exchange_counts(std::span<const DispatchPlan>(&plan, 1), {}).front());
  }
  const T* transfer(RowMove m, const ExpertLayout& layout, int64_t d, const T* rows, Tensor<T>& buffer) {
    return start(m, layout, d, rows, buffer, {}).finish();
  }
  const T* dispatch(const ExpertLayout& l, int64_t d, const T* send, Tensor<T>& buffer) {
    return transfer(RowMove::dispatch, l, d, send, buffer);
  }
  const T* combine(const ExpertLayout& l, int64_t d, const T* expert_out, Tensor<T>& buffer) {
    return transfer(RowMove::combine, l, d, expert_out, buffer);
  }
  const T* combine_backward(const ExpertLayout& l, int64_t d, const T* d_back, Tensor<T>& buffer) {
    return transfer(RowMove::combine_backward, l, d, d_back, buffer);
  }
  const T* dispatch_backward(const ExpertLayout& l, int64_t d, const T* d_recv, Tensor<T>& buffer) {
    return transfer(RowMove::dispatch_backward, l, d, d_recv, buffer);
  }
};

// EP = 1 in one process: every expert is local, rows never move, nothing is copied.
// (Not final: single-process tests derive from it to fake a peer's statistics.)
template <class T>
class LocalDispatcher : public Dispatcher<T> {
 public:
  using Dispatcher<T>::exchange_counts;
  int ep_size() const override { return 1; }
  int ep_rank() const override { return 0; }
  std::vector<ExpertLayout> exchange_counts(std::span<const DispatchPlan> chunks, std::string_view) override;
  void exchange_counts_into(std::span<const DispatchPlan> chunks, std::string_view,
                            std::vector<ExpertLayout>& out) override;
  RowTransfer<T> start(RowMove, const ExpertLayout&, int64_t, const T* rows, Tensor<T>&, std::string_view) override {
    return RowTransfer<T>::done(rows);
  }
  void allreduce_sum(double*, int64_t) override {}
};

// The layout when this rank is the only source (what LocalDispatcher returns).
ExpertLayout single_rank_layout(const DispatchPlan& plan);
void single_rank_layout_into(const DispatchPlan& plan, ExpertLayout& out);

}  // namespace sy
