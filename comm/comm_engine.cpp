// comm/comm_engine.cpp — the engine thread: posting in submission order, driving progress, timing, stall and failure handling.
#include "comm/comm_engine.h"

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iomanip>
#include <sstream>

#include "comm/board_client.h"
#include "comm/status_board.h"
#include "runtime/error.h"

namespace sy {

struct CommEngine::PendingOp {
  int64_t seq = 0;
  Group group = Group::world;
  std::string label;
  int64_t bytes = 0;
  TransportOp op;
  std::promise<void> done;
  std::unique_ptr<TransportRequest> request;
  Clock::time_point submitted, posted;
};

namespace {

constexpr size_t kMaxRecords = 4096;
// How often the engine thread talks to the board while it is busy.
constexpr double kBoardServiceIntervalS = 0.002;
// How long the engine thread sleeps when nothing is in flight (it still wakes
// at once on a submission or a board message).
constexpr double kIdleWaitUs = 100'000;

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// SWITCHYARD_TEST_STALL=RANK:SEQ → SEQ when RANK is this rank, else 0.
int parse_stall_hook(int world_rank) {
  const char* v = std::getenv("SWITCHYARD_TEST_STALL");
  if (!v || !*v) return 0;
  int rank = -1, seq = 0;
  char tail = 0;
  if (std::sscanf(v, "%d:%d%c", &rank, &seq, &tail) != 2 || rank < 0 || seq < 1)
    throw ConfigError(std::string("SWITCHYARD_TEST_STALL = '") + v +
                      "' is malformed (expected RANK:SEQ, e.g. 1:5; it is a test-only hook)");
  if (rank != world_rank) return 0;
  std::fprintf(stderr,
               "switchyard: TEST HOOK SWITCHYARD_TEST_STALL=%s: rank %d will never post collective seq %d "
               "or any later one\n",
               v, rank, seq);
  std::fflush(stderr);
  return seq;
}

std::string describe_op(OpKind kind, const std::string& label, int64_t seq, Group g) {
  return std::string(op_kind_name(kind)) + " '" + label + "' seq " + std::to_string(seq) + " on group " +
         group_name(g);
}

}  // namespace

// ---------------------------------------------------------------------------
// Start-up and shut-down.

CommEngine::CommEngine(const ParallelGrid& grid, std::unique_ptr<Transport> transport, double stall_timeout_s,
                       ProgressPolicy policy)
    : grid_(grid),
      transport_(std::move(transport)),
      stall_timeout_s_(stall_timeout_s),
      policy_(policy),
      uncaught_at_construction_(std::uncaught_exceptions()) {
  if (!(stall_timeout_s > 0))
    throw ConfigError("parallel.stall_timeout_s = " + std::to_string(stall_timeout_s) + " must be positive");
  stall_hook_seq_ = parse_stall_hook(grid_.world_rank());
  wake_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_.valid()) throw CommError("CommEngine: eventfd failed");
  bootstrap();
  thread_ = std::thread([this] { run(); });
}

// Collective over the world, on the constructing thread (before the engine
// thread exists, so MPI is still single-threaded here).  Every rank learns the
// board's address, connects, and all ranks agree whether everyone succeeded, so
// a failure throws on every rank instead of leaving some waiting.
void CommEngine::bootstrap() {
  const double silence_limit_s = std::max(10.0, stall_timeout_s_);
  std::string error;
  unsigned char packed[BoardAddress::kPackedBytes] = {};
  if (grid_.world_rank() == 0) {
    try {
      board_server_ = std::make_unique<StatusBoard>(grid_.world_size(), silence_limit_s);
      board_server_->address().pack(packed);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  TransportOp bcast;
  bcast.kind = OpKind::broadcast;
  bcast.comm = grid_.comm(Group::world).get();
  bcast.data = packed;
  bcast.count = BoardAddress::kPackedBytes;
  run_now(bcast);
  const BoardAddress address = BoardAddress::unpack(packed);
  if (error.empty()) {
    try {
      board_ = std::make_unique<BoardClient>(address, grid_.world_rank(), grid_.hostname(), grid_.host_of(0),
                                             silence_limit_s);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  int64_t failed = error.empty() ? 0 : 1;
  TransportOp agree;
  agree.kind = OpKind::all_reduce;
  agree.comm = grid_.comm(Group::world).get();
  agree.data = &failed;
  agree.count = 1;
  agree.dtype = DataType::i64;
  agree.reduce = ReduceOp::max;
  run_now(agree);
  if (failed) {
    board_.reset();
    board_server_.reset();
    throw CommError(error.empty() ? "another rank could not reach the status board on rank 0 (see its message)"
                                  : error);
  }
}

void CommEngine::run_now(TransportOp op) {
  auto request = transport_->start(op);
  while (!transport_->test(*request)) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

CommEngine::~CommEngine() {
  if (std::uncaught_exceptions() > uncaught_at_construction_)
    leave_with_error("it is unwinding an error (see its own message)");
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  board_server_.reset();
}

void CommEngine::leave_with_error(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (!leave_reason_.empty()) return;
    leave_reason_ = reason.empty() ? "unknown error" : reason;
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();  // the engine thread has told the board
  // On rank 0 the board lives in this process: let it hand the notice to every
  // other rank before it is torn down.
  if (board_server_) {
    const auto t0 = Clock::now();
    while (!board_server_->fatal_forwarded() && ms_between(t0, Clock::now()) < 3000)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  board_server_.reset();
}

// ---------------------------------------------------------------------------
// Submission (compute threads).

CommHandle CommEngine::submit(Group g, TransportOp op, std::string label, int64_t bytes,
                              std::atomic<double>* exposed) {
  auto p = std::make_unique<PendingOp>();
  p->group = g;
  p->label = std::move(label);
  p->bytes = bytes;
  p->op = std::move(op);
  p->op.comm = grid_.comm(g).get();
  p->submitted = Clock::now();
  std::shared_future<void> done = p->done.get_future().share();
  {
    std::lock_guard lock(mutex_);
    if (stopping_)
      throw CommError("collective '" + p->label + "' submitted after the CommEngine stopped (rank " +
                      std::to_string(grid_.world_rank()) + ")");
    p->seq = p->op.seq = ++last_seq_;
    queue_.push_back(std::move(p));
  }
  wake();
  return CommHandle(std::move(done), exposed);
}

CommHandle CommEngine::all_to_all_v(Group g, const void* send, std::vector<int64_t> send_bytes, void* recv,
                                    std::vector<int64_t> recv_bytes, std::string label) {
  SY_ASSERT(static_cast<int>(send_bytes.size()) == size(g) && static_cast<int>(recv_bytes.size()) == size(g),
            "all_to_all_v '" + label + "': byte-count vectors must have one entry per member of group " +
                group_name(g));
  TransportOp op;
  op.kind = OpKind::all_to_all_v;
  op.send = send;
  op.data = recv;
  int64_t bytes = 0;
  for (int64_t b : send_bytes) bytes += b;
  op.send_bytes = std::move(send_bytes);
  op.recv_bytes = std::move(recv_bytes);
  return submit(g, std::move(op), std::move(label), bytes, &a2a_exposed_ms_);
}

namespace {
TransportOp reduce_op(void* data, int64_t n, DataType t, ReduceOp r) {
  TransportOp op;
  op.kind = OpKind::all_reduce;
  op.data = data;
  op.count = n;
  op.dtype = t;
  op.reduce = r;
  return op;
}
}  // namespace

CommHandle CommEngine::all_reduce_sum(Group g, float* data, int64_t n, std::string label) {
  return submit(g, reduce_op(data, n, DataType::f32, ReduceOp::sum), std::move(label), n * 4, &allreduce_exposed_ms_);
}
CommHandle CommEngine::all_reduce_sum(Group g, double* data, int64_t n, std::string label) {
  return submit(g, reduce_op(data, n, DataType::f64, ReduceOp::sum), std::move(label), n * 8, &allreduce_exposed_ms_);
}
CommHandle CommEngine::all_reduce_sum(Group g, int64_t* data, int64_t n, std::string label) {
  return submit(g, reduce_op(data, n, DataType::i64, ReduceOp::sum), std::move(label), n * 8, &allreduce_exposed_ms_);
}
CommHandle CommEngine::all_reduce_max(Group g, int64_t* data, int64_t n, std::string label) {
  return submit(g, reduce_op(data, n, DataType::i64, ReduceOp::max), std::move(label), n * 8, &allreduce_exposed_ms_);
}

CommHandle CommEngine::broadcast(Group g, void* data, int64_t bytes, int root, std::string label) {
  SY_ASSERT(root >= 0 && root < size(g), "broadcast '" + label + "': root is not a member of group " + group_name(g));
  TransportOp op;
  op.kind = OpKind::broadcast;
  op.data = data;
  op.count = bytes;
  op.root = root;
  return submit(g, std::move(op), std::move(label), bytes, nullptr);
}

CommHandle CommEngine::barrier(Group g, std::string label) {
  TransportOp op;
  op.kind = OpKind::barrier;
  return submit(g, std::move(op), std::move(label), 0, nullptr);
}

CommTimes CommEngine::take_times() {
  std::lock_guard lock(mutex_);
  CommTimes t = times_;
  times_ = {};
  t.a2a_exposed_ms = a2a_exposed_ms_.exchange(0);
  t.allreduce_exposed_ms = allreduce_exposed_ms_.exchange(0);
  return t;
}

std::vector<OpRecord> CommEngine::take_records() {
  std::lock_guard lock(mutex_);
  std::vector<OpRecord> out(records_.begin(), records_.end());
  records_.clear();
  return out;
}

int64_t CommEngine::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

EngineStats CommEngine::stats() const {
  return EngineStats{test_rounds_.load(), sleeps_.load(), thread_cpu_ms_.load()};
}

void CommEngine::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_.get(), &one, sizeof one);
}

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
//     thread tests every in-flight op repeatedly; between rounds it yields, then
//     sleeps with a doubling back-off, so it does not take the core the compute
//     thread needs (ranks often outnumber cores).
//  5. It never blocks in MPI, so it can always watch the clock and the status
//     board: a stalled op, a failed op, a lost rank or a lost board ends the
//     process with code 5 from here, with one line saying why.
//  6. Times are recorded before a promise is fulfilled, so whoever waited on a
//     handle sees the op in take_times().

void CommEngine::run() {
  prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 µs: the back-off sleeps are tens of µs
  std::deque<std::unique_ptr<PendingOp>> in_flight;  // in seq order
  std::vector<std::unique_ptr<PendingOp>> held;      // SWITCHYARD_TEST_STALL: never posted
  int idle_rounds = 0;
  auto last_service = Clock::now();
  const auto goodbye_deadline_s = std::max(60.0, stall_timeout_s_);
  Clock::time_point drained_at{};

  while (true) {
    std::deque<std::unique_ptr<PendingOp>> incoming;
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
      return;  // in-flight ops are abandoned; the process is going down
    }
    for (auto& p : incoming) {
      if (stall_hook_seq_ > 0 && p->seq >= stall_hook_seq_) {
        held.push_back(std::move(p));
        continue;
      }
      post(*p);
      in_flight.push_back(std::move(p));
      idle_rounds = 0;
    }

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
        }
      }
      std::erase_if(in_flight, [](const auto& p) { return !p; });
    }

    const auto now = Clock::now();
    if (ms_between(last_service, now) >= kBoardServiceIntervalS * 1e3 || idle_rounds > policy_.spin_rounds) {
      last_service = now;
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
        board_->set_progress(last_posted_, last_posted_label_, in_flight.empty() ? last_posted_ + 1 : in_flight.front()->seq);
        board_->service();
        board_->goodbye();
        break;
      }
    }

    double wait_us = kIdleWaitUs;
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
    wait_for_work(wait_us);
  }
}

void CommEngine::wait_for_work(double timeout_us) {
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
  const double waited_s = ms_between(p.posted, Clock::now()) / 1e3;
  std::ostringstream head;
  head << "stall: " << describe_op(p.op.kind, p.label, p.seq, p.group) << " (" << p.bytes << " bytes) not complete after "
       << std::fixed << std::setprecision(1) << waited_s << " s";
  const std::string me = "rank " + std::to_string(grid_.world_rank()) + " (" + grid_.hostname() + ")";

  const BoardClient::Claim claim = board_->claim(p.seq, 5.0);
  if (claim.result == BoardClient::Claim::fatal) die(claim.fatal_line);
  if (claim.result == BoardClient::Claim::denied) {
    // Another rank reports this stall (or an earlier one); its abort follows.
    const auto notice = board_->wait_for_notice(10.0);
    die(notice.value_or("switchyard: " + head.str() + " (seen by " + me + "; no report from the status board)"));
  }

  // Members of the op's group that never posted it, and (if all did) those that did not finish it.
  std::ostringstream missing, incomplete;
  int n_missing = 0, n_incomplete = 0;
  std::string missing_ranks;
  for (int r : grid_.members(p.group)) {
    const RankState* s = nullptr;
    for (const auto& row : claim.table)
      if (row.rank == r) s = &row;
    if (!s) continue;
    if (s->entered < p.seq) {
      missing << (n_missing ? ", " : "") << r << " (" << s->host << ", last at seq " << s->entered;
      if (s->entered > 0) missing << " '" << s->entered_label << "'";
      missing << (s->connected ? "" : ", disconnected") << ")";
      missing_ranks += (n_missing++ ? ", " : "") + std::to_string(r);
    } else if (s->pending <= p.seq) {
      incomplete << (n_incomplete++ ? ", " : "") << r << " (" << s->host << ")";
    }
  }
  std::string report = "switchyard: " + head.str() + "; ranks not arrived: ";
  std::string summary;
  if (n_missing) {
    report += missing.str();
    summary = "ranks not arrived: " + missing_ranks;
  } else {
    report += "none (every member posted it; not complete on: " + (n_incomplete ? incomplete.str() : "?") + ")";
    summary = "every member posted it";
  }
  report += "; reported by " + me;
  std::fprintf(stderr, "%s\n", report.c_str());
  std::fflush(stderr);
  board_->send_abort(me + " reported a stall of " + describe_op(p.op.kind, p.label, p.seq, p.group) + "; " + summary);
  const auto notice = board_->wait_for_notice(10.0);
  die(notice.value_or("switchyard: " + me + " exits with code 5 after the stall report"));
}

}  // namespace sy
