// comm/comm_engine_thread.cpp — the engine thread: posting in submission order, driving progress, timing, stall and failure exits.
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "comm/board_client.h"
#include "comm/comm_engine.h"
#include "comm/stall_report.h"
#include "comm/status_board.h"
#include "runtime/error.h"

namespace sy {
namespace {

constexpr size_t kMaxRecords = 4096;
// How often the engine thread talks to the board while it is busy.
constexpr double kBoardServiceIntervalS = 0.002;
// How long the engine thread sleeps when nothing is in flight (it still wakes
// at once on a submission, a wait() or a board message).
constexpr double kIdleWaitUs = 100'000;

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

}  // namespace

// ---------------------------------------------------------------------------
// The engine thread.
//
// Constraints that shape this loop (Horovod's operations.cc states its own the same way):
//  1. After start-up this thread is the only caller of MPI, so MPI needs only
//     MPI_THREAD_SERIALIZED and compute threads never block inside MPI.
//  2. Ops are posted in submission order.  Every rank submits the same sequence,
//     so MPI sees collectives on each communicator in the same order everywhere
//     and an op's seq is the same on every rank.
//  3. Several ops stay in flight and each completes as soon as MPI says so — not
//     in seq order — so a small all-to-all is not held behind a large gradient
//     all-reduce submitted earlier.
//  4. Open MPI progresses nonblocking collectives only inside MPI calls, so this
//     thread tests every in-flight op repeatedly.  While the compute thread
//     computes, rounds are separated by a few yields, then by sleeps doubling up
//     to ProgressPolicy::max_sleep_us, so the engine does not take the core the
//     compute thread needs (ranks often outnumber cores).  While a compute
//     thread is blocked in wait() its core is free, and the engine tests
//     continuously (yielding) for latency — for at most busy_poll_ms after the
//     last event, so a long wait for a slow peer costs little CPU.
//  5. It never blocks in MPI, so it can always watch the clock and the status
//     board: a stalled op, a failed op, a lost rank or a lost board ends the
//     process with code 5 from here, with one line saying why.
//  6. Times are recorded before a promise is fulfilled, so whoever waited on a
//     handle sees the op in take_times().

void CommEngine::run() {
  prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 µs: the back-off sleeps start at 20 µs
  std::deque<std::unique_ptr<PendingOp>> in_flight;  // in seq order
  std::vector<std::unique_ptr<PendingOp>> held;      // SWITCHYARD_TEST_STALL: never posted
  int idle_rounds = 0;
  auto last_service = Clock::now();
  bool board_has_news = false;
  auto last_event = Clock::now();  // latest post, completion or start of a wait()
  int64_t seen_wait_epoch = 0;
  const auto goodbye_deadline_s = std::max(60.0, stall_timeout_s_);
  Clock::time_point drained_at{};
  // Swapped with queue_ each round: both keep their storage, so the polling
  // loop does not allocate (a deque built per round allocated twice per round).
  std::deque<std::unique_ptr<PendingOp>> incoming;

  while (true) {
    bool stopping;
    std::string leave_reason;
    {
      std::lock_guard lock(mutex_);
      incoming.swap(queue_);
      stopping = stopping_;
      leave_reason = leave_reason_;
    }
    if (!leave_reason.empty()) {
      board_->leaving(leave_reason);
      // In-flight ops are abandoned (MPI forbids freeing active collective
      // requests; the process is going down).  Their waiters learn why.
      const auto abandon = [&](PendingOp& p) {
        p.done.set_exception(std::make_exception_ptr(CommError(
            describe_op(p.op.kind, p.label, p.seq, p.group) + " abandoned: this rank stopped (" + leave_reason + ")")));
      };
      for (auto* ops : {&incoming, &in_flight}) {
        for (auto& p : *ops) {
          abandon(*p);
          if (p->request) (void)p->request.release();  // leaked on purpose, see above
        }
      }
      for (auto& p : held) abandon(*p);
      return;
    }
    for (auto& p : incoming) {
      if (stall_hook_seq_ > 0 && p->seq >= stall_hook_seq_) {
        held.push_back(std::move(p));
        continue;
      }
      post(*p);
      last_event = p->posted;
      in_flight.push_back(std::move(p));
      idle_rounds = 0;
    }
    incoming.clear();

    if (!in_flight.empty()) {
      test_rounds_.fetch_add(1, std::memory_order_relaxed);
      for (auto& p : in_flight) {
        bool done = false;
        try {
          done = transport_->test(*p->request);
        } catch (const std::exception& e) {
          fail(*p, e);
        }
        if (done) {
          complete(*p);
          p.reset();
          idle_rounds = 0;
          last_event = Clock::now();
        }
      }
      std::erase_if(in_flight, [](const auto& p) { return !p; });
    }

    const auto now = Clock::now();
    if (board_has_news || ms_between(last_service, now) >= kBoardServiceIntervalS * 1e3) {
      last_service = now;
      board_has_news = false;
      board_->set_progress(last_posted_, last_posted_label_, in_flight.empty() ? last_posted_ + 1 : in_flight.front()->seq);
      if (auto fatal = board_->service()) die(*fatal);
      thread_cpu_ms_ = thread_cpu_ms();
    }
    if (!in_flight.empty() && ms_between(in_flight.front()->posted, now) > stall_timeout_s_ * 1e3)
      stall(*in_flight.front());

    if (stopping && in_flight.empty() && held.empty()) {
      // Drained.  World rank 0 hosts the board: it says goodbye only after
      // every other rank has, so it can still tell them about a lost rank.
      if (drained_at == Clock::time_point{}) drained_at = now;
      const bool others_done = !board_server_ || board_server_->others_done();
      const bool waited_too_long = ms_between(drained_at, now) > goodbye_deadline_s * 1e3;
      if (others_done || waited_too_long) {
        if (waited_too_long && !others_done)
          std::fprintf(stderr, "switchyard: rank 0: not every rank said goodbye within %.0f s; stopping the status board\n",
                       goodbye_deadline_s);
        board_->set_progress(last_posted_, last_posted_label_, last_posted_ + 1);
        if (auto fatal = board_->service()) die(*fatal);
        board_->goodbye();
        break;
      }
    }

    double wait_us = kIdleWaitUs;
    if (!in_flight.empty() && waiters_.load(std::memory_order_relaxed) > 0) {
      if (const int64_t epoch = wait_epoch_.load(std::memory_order_relaxed); epoch != seen_wait_epoch) {
        seen_wait_epoch = epoch;
        last_event = now;
      }
      if (ms_between(last_event, now) < policy_.busy_poll_ms) {
        sched_yield();  // someone is blocked on us: its core is free, keep testing
        continue;
      }
    }
    if (!in_flight.empty()) {
      ++idle_rounds;
      if (idle_rounds <= policy_.spin_rounds) {
        sched_yield();
        continue;
      }
      const int doublings = std::min(idle_rounds - policy_.spin_rounds - 1, 20);
      wait_us = std::min(policy_.max_sleep_us, policy_.first_sleep_us * static_cast<double>(1 << doublings));
    } else if (stopping) {
      wait_us = 10'000;  // rank 0 polling for goodbyes
    }
    board_has_news = wait_for_work(wait_us);
  }
}

bool CommEngine::wait_for_work(double timeout_us) {
  sleeps_.fetch_add(1, std::memory_order_relaxed);
  pollfd fds[2] = {{wake_fd_.get(), POLLIN, 0}, {board_->fd(), POLLIN, 0}};
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_us / 1e6);
  ts.tv_nsec = static_cast<long>((timeout_us - ts.tv_sec * 1e6) * 1e3);
  ppoll(fds, 2, &ts, nullptr);
  if (fds[0].revents & POLLIN) {
    uint64_t count;
    [[maybe_unused]] ssize_t n = read(wake_fd_.get(), &count, sizeof count);
  }
  return fds[1].revents != 0;
}

void CommEngine::post(PendingOp& p) {
  p.posted = Clock::now();
  try {
    p.request = transport_->start(p.op);
  } catch (const std::exception& e) {
    fail(p, e);
  }
  last_posted_label_ = p.label;
  last_posted_ = p.seq;
}

void CommEngine::complete(PendingOp& p) {
  const double ms = ms_between(p.submitted, Clock::now());
  {
    std::lock_guard lock(mutex_);
    if (p.op.kind == OpKind::all_to_all_v) {
      times_.a2a_ms += ms;
      times_.a2a_bytes += p.bytes;
    } else if (p.op.kind == OpKind::all_reduce) {
      times_.allreduce_ms += ms;
      times_.allreduce_bytes += p.bytes;
    }
    records_.push_back(OpRecord{p.seq, p.op.kind, p.group, p.label, p.bytes, ms, completions_++});
    if (records_.size() > kMaxRecords) records_.pop_front();
  }
  p.done.set_value();
}

// ---------------------------------------------------------------------------
// The ways a job ends here.  Each prints once and exits the process with code 5.

void CommEngine::die(const std::string& line) {
  transport_->abort();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(static_cast<int>(ExitCode::comm));
}

void CommEngine::fail(PendingOp& p, const std::exception& e) {
  const std::string me = "rank " + std::to_string(grid_.world_rank()) + " (" + grid_.hostname() + ")";
  const std::string what = describe_op(p.op.kind, p.label, p.seq, p.group) + " failed on " + me + ": " + e.what();
  try {
    p.done.set_exception(std::make_exception_ptr(CommError(what)));
  } catch (const std::future_error&) {
  }
  std::fprintf(stderr, "switchyard: %s\n", what.c_str());
  std::fflush(stderr);
  board_->send_abort(what);
  const auto notice = board_->wait_for_notice(10.0);
  die(notice.value_or("switchyard: " + me + " exits with code 5: " + what));
}

void CommEngine::stall(PendingOp& p) {
  const StalledOp op{p.op.kind, p.label, p.seq, p.group, p.bytes, ms_between(p.posted, Clock::now()) / 1e3};
  const std::string me = "rank " + std::to_string(grid_.world_rank()) + " (" + grid_.hostname() + ")";
  // A board silent for several heartbeats is cut off from this rank: asking it is pointless.
  BoardClient::Claim claim;
  if (board_->silent_s() <= kUnreachableAfterS) claim = board_->claim(p.seq, 5.0);
  if (claim.result == BoardClient::Claim::no_answer) {
    const std::vector<int>& members = grid_.members(p.group);
    std::vector<std::string> hosts;
    std::vector<int> nodes;
    for (int r : members) {
      hosts.push_back(grid_.host_of(r));
      nodes.push_back(grid_.node_of(r));
    }
    const StallReport report = make_isolated_stall_report(op, members, hosts, nodes, grid_.node_index(),
                                                          "rank 0 (" + grid_.host_of(0) + ")", board_->silent_s(), me);
    std::fprintf(stderr, "%s\n", report.line.c_str());
    die("switchyard: " + me + " exits with code 5: " + report.summary);
  }
  if (claim.result == BoardClient::Claim::fatal) die(claim.fatal_line);
  if (claim.result == BoardClient::Claim::denied) {
    // Another rank reports this stall (or an earlier one); its abort follows.
    const auto notice = board_->wait_for_notice(10.0);
    die(notice.value_or("switchyard: stall: " + describe_op(op.kind, op.label, op.seq, op.group) + " (seen by " + me +
                        "; no report from the status board)"));
  }
  const StallReport report = make_stall_report(op, grid_.members(p.group), claim.table, me);
  std::fprintf(stderr, "%s\n", report.line.c_str());
  std::fflush(stderr);
  board_->send_abort(report.summary);
  const auto notice = board_->wait_for_notice(10.0);
  die(notice.value_or("switchyard: " + me + " exits with code 5 after the stall report"));
}

}  // namespace sy
