// comm/collective_dispatcher.cpp — count exchange, row all-to-alls with source-major ↔ expert-major regrouping.
#include "comm/collective_dispatcher.h"

#include <cstring>

#include "runtime/error.h"

namespace sy {

namespace {

std::string collective_label(const char* what, std::string_view label) {
  std::string s = std::string("moe.") + what;
  if (!label.empty()) s.append(" ").append(label);
  return s;
}

// Copies the blocks between the source-major order of the wire (for peer q, for
// local expert j: recv_counts[q·L + j] rows) and ExpertLayout's expert-major order
// (rows of expert j from peer q after those from peers < q).
template <class T>
void regroup(const std::vector<int64_t>& recv_counts, const std::vector<int64_t>& expert_offsets, int peers,
             int local_experts, int64_t d, const T* from, T* to, bool to_expert_major) {
  std::vector<int64_t> cursor(expert_offsets.begin(), expert_offsets.end() - 1);
  int64_t wire = 0;
  for (int q = 0; q < peers; ++q)
    for (int j = 0; j < local_experts; ++j) {
      const int64_t n = recv_counts[int64_t(q) * local_experts + j];
      if (n == 0) continue;
      const int64_t src = to_expert_major ? wire : cursor[j];
      const int64_t dst = to_expert_major ? cursor[j] : wire;
      std::memcpy(to + dst * d, from + src * d, sizeof(T) * n * d);
      cursor[j] += n;
      wire += n;
    }
}

}  // namespace

// Staging buffers kept across transfers: a transfer borrows one and gives it back
// when it is destroyed, so steady-state steps neither allocate nor page-fault in
// fresh memory (a new 16 MiB buffer per transfer cost more than the copy itself).
// Used from the compute thread only.
template <class T>
struct StagingPool {
  std::vector<std::unique_ptr<Tensor<T>>> free;
  std::unique_ptr<Tensor<T>> take() {
    if (free.empty()) return std::make_unique<Tensor<T>>();
    std::unique_ptr<Tensor<T>> t = std::move(free.back());
    free.pop_back();
    return t;
  }
};

namespace {

// A row all-to-all in flight.  Borrows the staging rows (when regrouping is needed)
// and keeps what finishing needs from the layout, so the layout may go away first.
template <class T>
class RowAllToAll final : public RowTransfer<T>::InFlight {
 public:
  RowAllToAll(bool to_experts, const ExpertLayout& layout, int64_t d, T* out, std::shared_ptr<StagingPool<T>> pool)
      : to_experts_(to_experts),
        peers_(layout.ep_size),
        local_experts_(layout.local_experts),
        d_(d),
        recv_counts_(layout.recv_counts),
        expert_offsets_(layout.expert_offsets),
        out_(out),
        pool_(std::move(pool)) {
    if (needs_staging()) staging_ = pool_->take();
  }
  ~RowAllToAll() override {
    if (!completed_) {
      try {
        handle_.wait();  // the engine may still write into buffers we are about to release
      } catch (...) {
      }
    }
    if (staging_) pool_->free.push_back(std::move(staging_));
  }

  bool needs_staging() const { return peers_ > 1 && local_experts_ > 1; }
  Tensor<T>& staging() { return *staging_; }
  void set_handle(CommHandle h) { handle_ = std::move(h); }
  // Rows this rank sends to (sender-bound: receives from) each peer, on the expert side.
  std::vector<int64_t> expert_side_rows() const {
    std::vector<int64_t> rows(peers_, 0);
    for (int q = 0; q < peers_; ++q)
      for (int j = 0; j < local_experts_; ++j) rows[q] += recv_counts_[int64_t(q) * local_experts_ + j];
    return rows;
  }
  // Sender-bound moves: expert-major rows into wire order.
  void pack(const T* expert_major) {
    regroup(recv_counts_, expert_offsets_, peers_, local_experts_, d_, expert_major, staging_->data(), false);
  }

  const T* complete() override {
    completed_ = true;
    handle_.wait();
    if (to_experts_ && needs_staging())
      regroup(recv_counts_, expert_offsets_, peers_, local_experts_, d_, staging_->data(), out_, true);
    return out_;
  }

 private:
  bool to_experts_;
  int peers_, local_experts_;
  int64_t d_;
  std::vector<int64_t> recv_counts_, expert_offsets_;
  T* out_;
  std::shared_ptr<StagingPool<T>> pool_;
  std::unique_ptr<Tensor<T>> staging_;
  CommHandle handle_;
  bool completed_ = false;
};

}  // namespace

template <class T>
CollectiveDispatcher<T>::CollectiveDispatcher(Collectives& comm)
    : comm_(comm),
      ep_size_(comm.size(Group::ep)),
      ep_rank_(comm.rank(Group::ep)),
      staging_(std::make_shared<StagingPool<T>>()) {}

template <class T>
std::vector<ExpertLayout> CollectiveDispatcher<T>::exchange_counts(std::span<const DispatchPlan> chunks,
                                                                   std::string_view label) {
  const int P = ep_size_;
  const int64_t C = static_cast<int64_t>(chunks.size());
  int L = 0;
  for (const DispatchPlan& plan : chunks) {
    SY_ASSERT(plan.ep_size == P, "dispatch plan built for another EP size than the dispatcher's group");
    L = plan.num_experts / P;
  }
  // Peer-major, then chunk, then the peer's local expert.
  const int64_t per_peer = C * L;
  std::vector<int64_t> send(P * per_peer), recv(P * per_peer);
  for (int q = 0; q < P; ++q)
    for (int64_t c = 0; c < C; ++c)
      for (int j = 0; j < L; ++j) send[q * per_peer + c * L + j] = chunks[c].counts[int64_t(q) * L + j];
  const std::vector<int64_t> bytes(P, per_peer * int64_t(sizeof(int64_t)));
  comm_.all_to_all_v(Group::ep, send.data(), bytes, recv.data(), bytes, collective_label("counts", label)).wait();

  std::vector<ExpertLayout> layouts(C);
  for (int64_t c = 0; c < C; ++c) {
    ExpertLayout& l = layouts[c];
    l.ep_size = P;
    l.ep_rank = ep_rank_;
    l.local_experts = L;
    l.send_counts = chunks[c].rank_counts;
    l.recv_counts.assign(int64_t(P) * L, 0);
    l.expert_counts.assign(L, 0);
    for (int q = 0; q < P; ++q)
      for (int j = 0; j < L; ++j) {
        const int64_t n = recv[q * per_peer + c * L + j];
        l.recv_counts[int64_t(q) * L + j] = n;
        l.expert_counts[j] += n;
      }
    l.expert_offsets.assign(L + 1, 0);
    for (int j = 0; j < L; ++j) l.expert_offsets[j + 1] = l.expert_offsets[j] + l.expert_counts[j];
  }
  return layouts;
}

template <class T>
RowTransfer<T> CollectiveDispatcher<T>::start(RowMove move, const ExpertLayout& layout, int64_t d, const T* rows,
                                              Tensor<T>& buffer, std::string_view label) {
  SY_ASSERT(layout.ep_size == ep_size_ && layout.ep_rank == ep_rank_, "layout of another EP group");
  const bool to_experts = moves_to_experts(move);
  const int64_t out_rows = to_experts ? layout.recv_rows() : layout.send_rows();
  buffer.resize_for_overwrite({out_rows, d});  // every row arrives (or is regrouped) before anyone reads it
  auto flight = std::make_unique<RowAllToAll<T>>(to_experts, layout, d, buffer.data(), staging_);

  const int64_t row_bytes = d * int64_t(sizeof(T));
  std::vector<int64_t> sender_side = layout.send_counts, expert_side = flight->expert_side_rows();
  for (int64_t& n : sender_side) n *= row_bytes;
  for (int64_t& n : expert_side) n *= row_bytes;

  const void* send = rows;
  void* recv = buffer.data();
  if (flight->needs_staging()) {
    flight->staging().resize_for_overwrite({layout.recv_rows(), d});  // the expert side, in wire order
    if (to_experts) {
      recv = flight->staging().data();
    } else {
      flight->pack(rows);
      send = flight->staging().data();
    }
  }
  const std::string what = collective_label(row_move_name(move), label);
  flight->set_handle(to_experts
                         ? comm_.all_to_all_v(Group::ep, send, std::move(sender_side), recv, std::move(expert_side), what)
                         : comm_.all_to_all_v(Group::ep, send, std::move(expert_side), recv, std::move(sender_side), what));
  return RowTransfer<T>(std::move(flight));
}

template <class T>
void CollectiveDispatcher<T>::allreduce_sum(double* x, int64_t n) {
  comm_.all_reduce_sum(Group::world, x, n, "moe.allreduce_sum").wait();
}

template class CollectiveDispatcher<float>;
template class CollectiveDispatcher<double>;

}  // namespace sy
