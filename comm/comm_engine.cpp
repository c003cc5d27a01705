// comm/comm_engine.cpp — CommEngine start-up (status board bootstrap), submission of collectives, accounting and shut-down.
#include "comm/comm_engine.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <exception>

#include "comm/board_client.h"
#include "comm/mpi_runtime.h"
#include "comm/status_board.h"
#include "runtime/error.h"

namespace sy {
namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
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
  // A rank silent for as long as an op may take is lost; progress reports are
  // spaced so that rank 0's board sees about 2000 per second at most (5 ms
  // apart up to 10 ranks, 0.5 s at 1000), always well inside the stall timeout.
  const double silence_limit_s = std::max(10.0, stall_timeout_s_);
  const double progress_interval_s =
      std::min({std::max(0.005, 0.0005 * grid_.world_size()), 0.5, stall_timeout_s_ / 10});
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
                                             silence_limit_s, progress_interval_s);
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
  mark_mpi_job_failed();
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
  return CommHandle(std::move(done), exposed, this);
}

void CommEngine::wait_begins() {
  waiters_.fetch_add(1);
  wait_epoch_.fetch_add(1);
  wake();
}

void CommEngine::wait_ends() { waiters_.fetch_sub(1); }

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

}  // namespace sy
