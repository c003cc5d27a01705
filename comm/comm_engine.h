// comm/comm_engine.h — CommEngine: the one thread that owns every MPI call after start-up (queue → futures, seq numbers, timing, stall reports).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/collectives.h"
#include "comm/parallel_grid.h"
#include "comm/socket.h"
#include "comm/transport.h"

namespace sy {

class BoardClient;
class StatusBoard;

// One completed collective, for logs and tests.
struct OpRecord {
  int64_t seq = 0;
  OpKind kind = OpKind::barrier;
  Group group = Group::world;
  std::string label;
  int64_t bytes = 0;           // this rank's payload: bytes sent (all-to-all) or reduced/broadcast
  double ms = 0;               // submission → completion on the engine thread
  int64_t completion_index = 0;  // 0, 1, 2, ... in the order ops completed on this rank
};

// How the engine thread waits between tests of in-flight operations.  Open MPI
// advances nonblocking collectives only inside MPI calls, so the engine must
// keep testing; the sleeps keep it from taking the compute thread's core.
// While a compute thread is blocked in CommHandle::wait() its core is idle
// anyway, and the engine tests continuously (yielding between rounds) — for up
// to busy_poll_ms without any event, so a rank waiting seconds for a slow peer
// goes back to sleeping.
struct ProgressPolicy {
  int spin_rounds = 4;          // after a post or completion: test rounds separated only by sched_yield
  double first_sleep_us = 20;   // then sleeps, doubling from this ...
  double max_sleep_us = 1000;   // ... up to this
  double busy_poll_ms = 10;     // continuous testing while a wait() is blocked, after the last event
};

// What progress driving cost, for measurements.
struct EngineStats {
  int64_t test_rounds = 0;   // passes over the in-flight operations
  int64_t sleeps = 0;        // waits between passes
  double thread_cpu_ms = 0;  // CPU time of the engine thread so far (sampled every few ms)
};

// Every rank must construct its engine at the same point (the constructor is
// collective over the world: it starts the status board on world rank 0 and
// connects every rank to it), and must submit the same sequence of collectives,
// so an op's sequence number (1, 2, 3, ...) is the same on every rank and names
// it in stall reports.  The grid must outlive the engine; the engine must die
// before the MpiRuntime.
//
// Failure policy (DESIGN.md §6, exit code 5): a stall, a failed MPI operation,
// a lost rank or a lost board ends the job.  The engine thread prints one line
// (the rank that detects a stall prints the one report naming the op, its seq
// and the ranks that have not arrived), and every rank exits with code 5 via
// _exit — compute threads may be busy and ops hang inside MPI, so no clean
// unwinding is possible.
//
// Test-only hook: SWITCHYARD_TEST_STALL=RANK:SEQ makes world rank RANK never
// post op SEQ nor any later op (as if stuck in compute); the rank prints a
// warning at start-up.  A malformed value is a ConfigError.
class CommEngine : public Collectives, private WaitObserver {
 public:
  CommEngine(const ParallelGrid& grid, std::unique_ptr<Transport> transport, double stall_timeout_s,
             ProgressPolicy policy = {});
  // Waits until every submitted op completed (stall detection still on), says
  // goodbye to the board and joins the thread; on world rank 0 it first waits for
  // the other ranks' goodbyes.  During exception unwinding it instead calls
  // leave_with_error, so the other ranks exit promptly instead of stalling.
  ~CommEngine() override;
  CommEngine(const CommEngine&) = delete;
  CommEngine& operator=(const CommEngine&) = delete;

  int rank(Group g) const override { return grid_.rank(g); }
  int size(Group g) const override { return grid_.size(g); }

  CommHandle all_to_all_v(Group g, const void* send, std::vector<int64_t> send_bytes, void* recv,
                          std::vector<int64_t> recv_bytes, std::string label) override;
  CommHandle all_reduce_sum(Group g, float* data, int64_t n, std::string label) override;
  CommHandle all_reduce_sum(Group g, double* data, int64_t n, std::string label) override;
  CommHandle all_reduce_sum(Group g, int64_t* data, int64_t n, std::string label) override;
  CommHandle all_reduce_max(Group g, int64_t* data, int64_t n, std::string label) override;
  CommHandle broadcast(Group g, void* data, int64_t bytes, int root, std::string label) override;
  CommHandle barrier(Group g, std::string label) override;
  CommTimes take_times() override;

  // This rank stops because of an error (already reported by the caller): the
  // board tells every other rank, which exits with code 5.  In-flight ops are
  // abandoned; later submissions throw CommError.
  void leave_with_error(const std::string& reason);

  // Completed ops since the last call (at most the latest 4096).
  std::vector<OpRecord> take_records();
  int64_t last_seq() const;  // sequence number of the latest submission
  EngineStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct PendingOp {
    int64_t seq = 0;
    Group group = Group::world;
    std::string label;
    int64_t bytes = 0;
    TransportOp op;
    std::promise<void> done;
    std::unique_ptr<TransportRequest> request;
    Clock::time_point submitted, posted;
  };

  CommHandle submit(Group g, TransportOp op, std::string label, int64_t bytes, std::atomic<double>* exposed);
  void bootstrap();
  void run_now(TransportOp op);  // start-up only, on the constructing thread
  void run();
  void post(PendingOp& op);
  void complete(PendingOp& op);
  [[noreturn]] void fail(PendingOp& op, const std::exception& e);
  [[noreturn]] void stall(PendingOp& op);
  [[noreturn]] void die(const std::string& line);
  bool wait_for_work(double timeout_us);  // true if the board has something to say
  void wake();
  void wait_begins() override;
  void wait_ends() override;

  const ParallelGrid& grid_;
  std::unique_ptr<Transport> transport_;
  double stall_timeout_s_;
  ProgressPolicy policy_;
  int stall_hook_seq_ = 0;  // SWITCHYARD_TEST_STALL on this rank; 0 = off
  int uncaught_at_construction_ = 0;

  std::unique_ptr<StatusBoard> board_server_;  // world rank 0 only
  std::unique_ptr<BoardClient> board_;         // engine thread only (after construction)
  FileDescriptor wake_fd_;

  mutable std::mutex mutex_;  // guards the fields below
  std::deque<std::unique_ptr<PendingOp>> queue_;
  int64_t last_seq_ = 0;
  bool stopping_ = false;
  std::string leave_reason_;
  CommTimes times_;
  std::deque<OpRecord> records_;

  std::atomic<double> a2a_exposed_ms_{0}, allreduce_exposed_ms_{0};
  std::atomic<int> waiters_{0};         // compute threads blocked in CommHandle::wait()
  std::atomic<int64_t> wait_epoch_{0};  // counts wait_begins calls
  std::atomic<int64_t> test_rounds_{0}, sleeps_{0};
  std::atomic<double> thread_cpu_ms_{0};
  int64_t completions_ = 0;  // engine thread only
  int64_t last_posted_ = 0;  // engine thread only
  std::string last_posted_label_;
  std::thread thread_;
};

}  // namespace sy
