// tests/mpi/steady_state_test.cpp — warm training steps under real MPI ranks allocate no tensor-sized buffer.
//
// tests/unit/steady_state_alloc_test.cpp checks one process's model step
// (forward, backward, AdamW): zero allocations.  This runs the whole
// Trainer::train_step on every rank with the real comm stack (CommEngine on
// its own thread, MpiTransport): expert-parallel all-to-alls through the
// staging pool, gradient buckets, the loss and norm reductions.  That path
// still makes thousands of small allocations per step (2,200-2,900 per rank
// here), four fifths of them oneDNN's (primitives for expert row counts not
// met before, per-execution argument maps), the rest each collective's
// record, name and MPI count vectors, the status board's messages and the
// step's statistics.  All are far below a tensor (the largest 4.2 KiB); what
// must not happen is a buffer the size of activations, rows in flight or
// gradients being allocated again once the run is warm.  The global operator
// new is replaced here (tests/counting_new.h) and counts, on every thread,
// while a step runs; SY_ALLOC_TRACE=1 prints a backtrace for each large
// allocation.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "comm/comm_engine.h"
#include "comm/mpi_transport.h"
#include "comm/parallel_grid.h"
#include "launch/config_schema.h"
#include "launch/trainer.h"
#include "tests/counting_new.h"
#include "tests/mpi/mpi_test_main.h"

namespace {
// Smaller than any tensor of the model below (a [128 tokens, 64] activation is
// 32 KiB, the rows one rank sends its experts 64 KiB), larger than any
// bookkeeping allocation seen (4.2 KiB).
constexpr std::size_t kLarge = 16 * 1024;

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0}, g_large{0};
std::atomic<std::size_t> g_largest{0};
bool g_trace = false;

void note_allocation(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (n < kLarge) return;
  g_large.fetch_add(1, std::memory_order_relaxed);
  if (g_trace) {
    sy::test::print_backtrace("---- large allocation during a warm step:\n");
  }
}
}  // namespace

namespace sy {
namespace {

// Two experts per rank at ep = 2 (so received rows are regrouped through the
// staging pool), capacity drops, two micro-batches per step; at 4 ranks the
// experts also have a data-parallel replica whose gradients are all-reduced.
const char* kModel =
    "[model]\nvocab_size = 64\nd_model = 64\nn_layers = 2\nn_heads = 4\nd_ff = 128\nmax_seq_len = 32\n"
    "moe_layers = 1\n"
    "[moe]\nnum_experts = 4\ntop_k = 2\ncapacity_factor = 1.25\n"
    "[train]\nsteps = 100\nmicro_batch = 4\nseq_len = 32\ngrad_accum = 2\nlr = 1e-2\nwarmup_steps = 1\nseed = 5\n"
    "[parallel]\nthreads = 1\nep = 2\n"
    "[data]\nsource = synthetic\n";

TEST(SteadyStateMpi, WarmStepsAllocateNoTensorSizedBuffer) {
  g_trace = std::getenv("SY_ALLOC_TRACE") != nullptr;
  test::on_allocation = note_allocation;
  const Config cfg = parse_config_text(kModel, {});
  const ParallelGrid grid = ParallelGrid::create(cfg.parallel.ep);
  CommEngine engine(grid, std::make_unique<MpiTransport>(), 60);
  Trainer trainer(cfg, engine);
  // Buffers whose row counts follow the routing (landing rows, expert
  // activations) grow by half at a new maximum; on this run the last such
  // growth is at step 8 (rank 1 of 2).  A buffer allocated every step would
  // show up at least kCounted times.
  constexpr int kWarmup = 10, kCounted = 20;
  for (int step = 1; step <= kWarmup + kCounted; ++step) {
    g_counting = step > kWarmup;
    const StepStats s = trainer.train_step();
    g_counting = false;
    ASSERT_TRUE(std::isfinite(s.loss)) << "step " << step;
  }
  const long allocs = g_allocs.load(), large = g_large.load();
  std::printf("[ alloc    ] rank %d, steps %d..%d: %ld allocations (%.0f per step), largest %zu bytes, %ld of >= %zu\n",
              grid.world_rank(), kWarmup + 1, kWarmup + kCounted, allocs, double(allocs) / kCounted, g_largest.load(),
              large, kLarge);
  EXPECT_LE(large, 2) << "rank " << grid.world_rank() << ": tensor-sized allocations in warm steps "
                      << "(SY_ALLOC_TRACE=1 prints where)";
}

}  // namespace
}  // namespace sy

SY_MPI_TEST_MAIN
