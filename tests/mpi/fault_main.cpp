// tests/mpi/fault_main.cpp — a tiny "training loop" of collectives for the fault tests (stall hook, drop, fail, kill -9, error exit).
//
// Step i (1, 2, 3, ...) submits exactly one collective, so its sequence number is i:
//   odd i:  all_reduce_sum over the world of one int64, label "grad bucket i"
//   even i: all_to_all_v over the EP group (ep = 2 when the world is even), label "dispatch i"
// and checks its result (exit 1 if wrong).  Options:
//   --stall-timeout S     parallel.stall_timeout_s (default 1.5)
//   --steps N             steps to run (default 20); then a clean shutdown, exit 0
//   --seconds T           instead: run steps until T seconds passed, then exit 1 ("nobody stopped me")
//   --step-sleep-ms M     sleep after each step (default 2)
//   --pid-dir DIR         write DIR/rank-R.pid once the engine is up
//   --drop SEQ:RANK       FaultInjectingTransport: op SEQ never completes on RANK
//   --fail SEQ:RANK       FaultInjectingTransport: op SEQ fails on RANK
//   --throw-at STEP:RANK  RANK throws a DataError before step STEP (main catches it, exit 3)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/comm_engine.h"
#include "comm/fault_injecting_transport.h"
#include "comm/mpi_runtime.h"
#include "comm/mpi_transport.h"
#include "comm/parallel_grid.h"
#include "runtime/error.h"

namespace {

struct Options {
  double stall_timeout_s = 1.5;
  int steps = 20;
  double seconds = 0;
  int step_sleep_ms = 2;
  std::string pid_dir;
  sy::FaultPlan faults;
  int throw_step = -1, throw_rank = -1;
};

void parse_pair(const char* text, int64_t* a, int* b) {
  long long x = 0;
  int y = 0;
  if (std::sscanf(text, "%lld:%d", &x, &y) != 2) {
    std::fprintf(stderr, "fault_main: bad pair '%s'\n", text);
    std::exit(2);
  }
  *a = x;
  *b = y;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--stall-timeout") o.stall_timeout_s = std::atof(v);
    else if (k == "--steps") o.steps = std::atoi(v);
    else if (k == "--seconds") o.seconds = std::atof(v);
    else if (k == "--step-sleep-ms") o.step_sleep_ms = std::atoi(v);
    else if (k == "--pid-dir") o.pid_dir = v;
    else if (k == "--drop") parse_pair(v, &o.faults.drop_seq, &o.faults.drop_rank);
    else if (k == "--fail") parse_pair(v, &o.faults.fail_seq, &o.faults.fail_rank);
    else if (k == "--throw-at") {
      int64_t s = 0;
      parse_pair(v, &s, &o.throw_rank);
      o.throw_step = static_cast<int>(s);
    } else {
      std::fprintf(stderr, "fault_main: unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return o;
}

// One step; returns false if the result is wrong.
bool step(sy::CommEngine& engine, const sy::ParallelGrid& grid, int i) {
  if (i % 2 == 1) {
    int64_t x = grid.world_rank() + i;
    engine.all_reduce_sum(sy::Group::world, &x, 1, "grad bucket " + std::to_string(i)).wait();
    const int64_t W = grid.world_size();
    return x == W * (W - 1) / 2 + W * i;
  }
  const int n = grid.size(sy::Group::ep);
  std::vector<int64_t> send(n), recv(n, -1);
  for (int q = 0; q < n; ++q) send[q] = grid.world_rank() * 1000 + q * 10 + i;
  engine.all_to_all_v(sy::Group::ep, send.data(), std::vector<int64_t>(n, 8), recv.data(), std::vector<int64_t>(n, 8),
                      "dispatch " + std::to_string(i)).wait();
  for (int q = 0; q < n; ++q)
    if (recv[q] != grid.members(sy::Group::ep)[q] * 1000 + grid.rank(sy::Group::ep) * 10 + i) return false;
  return true;
}

int run(const Options& o, const sy::MpiRuntime& mpi) {
  const int W = mpi.world_size();
  const sy::ParallelGrid grid = sy::ParallelGrid::create(W % 2 == 0 ? 2 : W);
  std::unique_ptr<sy::Transport> transport = std::make_unique<sy::MpiTransport>();
  if (o.faults.drop_seq > 0 || o.faults.fail_seq > 0)
    transport = std::make_unique<sy::FaultInjectingTransport>(std::move(transport), grid.world_rank(), o.faults);
  sy::CommEngine engine(grid, std::move(transport), o.stall_timeout_s);
  if (!o.pid_dir.empty()) {
    std::ofstream(o.pid_dir + "/rank-" + std::to_string(grid.world_rank()) + ".pid") << getpid() << "\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (o.seconds > 0) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > o.seconds) {
        std::fprintf(stderr, "fault_main: rank %d still running after %.0f s\n", grid.world_rank(), o.seconds);
        std::fflush(stderr);
        _exit(1);
      }
    } else if (i > o.steps) {
      break;
    }
    if (i == o.throw_step && grid.world_rank() == o.throw_rank)
      throw sy::DataError("fault_main: injected data error before step " + std::to_string(i));
    if (!step(engine, grid, i)) {
      std::fprintf(stderr, "fault_main: rank %d: wrong result at step %d\n", grid.world_rank(), i);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.step_sleep_ms));
  }
  std::printf("fault_main: rank %d done after %d steps\n", grid.world_rank(), o.steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  sy::MpiRuntime mpi(&argc, &argv);
  try {
    return run(o, mpi);
  } catch (const sy::Error& e) {
    std::fprintf(stderr, "fault_main: rank %d: %s\n", mpi.world_rank(), e.what());
    return static_cast<int>(e.code());
  }
}
