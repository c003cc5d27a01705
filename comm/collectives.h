// comm/collectives.h — Collectives: asynchronous collectives over the groups of the parallel grid.
//
// The seam between compute code (MoE dispatch, gradient all-reduce, the driver's
// command broadcast) and whatever moves the bytes.  The CommEngine implements it
// over MPI on one background thread; tests may implement it in-process.
#pragma once
#include <atomic>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

namespace sy {

// The communicators of DESIGN.md §4.
enum class Group {
  world,      // every rank
  ep,         // the contiguous block of `ep` ranks that together hold every expert
  expert_dp,  // the ranks holding the same expert shard: {(r mod ep) + j·ep}
  node,       // the ranks on this node
};
const char* group_name(Group g);

// Told when a thread starts and stops blocking in CommHandle::wait() on an
// unfinished op: while someone is blocked, the compute core is idle, so the
// implementation may drive progress harder (the CommEngine stops sleeping).
class WaitObserver {
 public:
  virtual void wait_begins() = 0;
  virtual void wait_ends() = 0;

 protected:
  ~WaitObserver() = default;
};

// Completion of one submitted collective.  wait() blocks until it is done and
// rethrows its failure (a CommError, e.g. a stall report); the time spent
// blocked is what the compute thread could not hide ("exposed" time).
class CommHandle {
 public:
  CommHandle() = default;
  // `exposed_ms`, when given, accumulates the time spent in wait() (the
  // implementation's per-kind counter behind CommTimes::*_exposed_ms).
  // `observer`, when given, must outlive every wait() on an unfinished op.
  explicit CommHandle(std::shared_future<void> done, std::atomic<double>* exposed_ms = nullptr,
                      WaitObserver* observer = nullptr)
      : done_(std::move(done)), exposed_ms_(exposed_ms), observer_(observer) {}
  // Blocks until done; returns the milliseconds spent waiting here.
  double wait();
  bool ready() const;
  bool valid() const { return done_.valid(); }

 private:
  std::shared_future<void> done_;
  std::atomic<double>* exposed_ms_ = nullptr;
  WaitObserver* observer_ = nullptr;
};

// Time spent in collectives since the last take_times(): `*_ms` is wall time from
// submission to completion on the communication side, `*_exposed_ms` the time
// compute threads spent blocked in CommHandle::wait() for them.
struct CommTimes {
  double a2a_ms = 0, a2a_exposed_ms = 0;
  double allreduce_ms = 0, allreduce_exposed_ms = 0;
  int64_t a2a_bytes = 0, allreduce_bytes = 0;
};

// Every call is collective over its group: all members call it in the same
// order (ranks with nothing to send still call).  Buffers must stay valid and
// untouched until the handle completes.  `label` names the operation in stall
// reports and logs (e.g. "moe.dispatch layer 3 chunk 1").
class Collectives {
 public:
  virtual ~Collectives() = default;

  virtual int rank(Group g) const = 0;
  virtual int size(Group g) const = 0;

  // Variable all-to-all of bytes: send_bytes[q] bytes for member q are packed in
  // `send` in member order; recv_bytes[q] bytes from member q land in `recv` in
  // member order.  Both vectors have size(g) entries.
  virtual CommHandle all_to_all_v(Group g, const void* send, std::vector<int64_t> send_bytes, void* recv,
                                  std::vector<int64_t> recv_bytes, std::string label) = 0;
  // In-place sum over the group.
  virtual CommHandle all_reduce_sum(Group g, float* data, int64_t n, std::string label) = 0;
  virtual CommHandle all_reduce_sum(Group g, double* data, int64_t n, std::string label) = 0;
  virtual CommHandle all_reduce_sum(Group g, int64_t* data, int64_t n, std::string label) = 0;
  // In-place logical AND / max over the group (step-boundary decisions, NaN flags).
  virtual CommHandle all_reduce_max(Group g, int64_t* data, int64_t n, std::string label) = 0;
  // `bytes` bytes from the group member `root` to every member.
  virtual CommHandle broadcast(Group g, void* data, int64_t bytes, int root, std::string label) = 0;
  virtual CommHandle barrier(Group g, std::string label) = 0;

  // Returns and resets the accumulated times.
  virtual CommTimes take_times() = 0;
};

}  // namespace sy
