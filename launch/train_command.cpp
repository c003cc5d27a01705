// launch/train_command.cpp — `switchyard train`: start MPI, build the grid and the CommEngine,
// print the effective config and layout (rank 0), train, save.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/comm_engine.h"
#include "comm/device_transport.h"
#include "comm/fault_injecting_transport.h"
#include "comm/hierarchical_a2a.h"
#include "comm/mpi_runtime.h"
#include "comm/mpi_transport.h"
#include "comm/parallel_grid.h"
#include "launch/commands.h"
#include "launch/config_schema.h"
#include "launch/signals.h"
#include "launch/training_backend.h"
#include "launch/trainer.h"

namespace sy {

namespace {
// MPI, or for the overlap benchmark (bench/a2a_overlap.sh) MPI with a fixed
// latency added to every all-to-all: SWITCHYARD_BENCH_A2A_LATENCY_MS=<ms>.
std::unique_ptr<Transport> make_transport(int world_rank) {
  std::unique_ptr<Transport> mpi = std::make_unique<MpiTransport>();
  const char* latency = std::getenv("SWITCHYARD_BENCH_A2A_LATENCY_MS");
  if (!latency || !*latency) return mpi;
  FaultPlan plan;
  try {
    plan.a2a_latency_ms = std::stod(latency);
  } catch (const std::exception&) {
    throw ConfigError(std::string("SWITCHYARD_BENCH_A2A_LATENCY_MS = ") + latency + " is not a number");
  }
  if (world_rank == 0)
    std::fprintf(stderr, "switchyard: BENCHMARK HOOK: %.3g ms added to every all-to-all\n", plan.a2a_latency_ms);
  return std::make_unique<FaultInjectingTransport>(std::move(mpi), world_rank, plan);
}
}  // namespace

int train_command(const CliCommand& cmd) {
  // First thing: a preemption signal (Slurm's warning) that arrives while MPI
  // starts must be recorded for the first step boundary, not kill the rank.
  install_preemption_handlers();
  Config cfg = cmd.config;
  MpiRuntime mpi;
  try {
    validate_world(cfg, mpi.world_size());
    require_usable_training_device(cfg.train);
  } catch (const ConfigError& e) {
    // Every rank finds the same; one says so.
    if (mpi.world_rank() == 0) std::fprintf(stderr, "switchyard: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  ParallelGrid grid = ParallelGrid::create(cfg.parallel.ep);
  // parallel.threads = 0: the node's cores shared by the ranks on the node.
  if (cfg.parallel.threads == 0)
    cfg.parallel.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / grid.ranks_on_this_node());
  const bool lead = grid.world_rank() == 0;
  if (lead) {
    std::printf("# switchyard train: effective config\n%s\n", to_ini(cfg).c_str());
    std::printf("layout: %d ranks on %d node(s), ep %d (%d expert-DP replicas), %d thread(s) per rank\n",
                grid.world_size(), grid.node_count(), grid.ep_size(), grid.dp_size(), cfg.parallel.threads);
    for (const std::string& line : grid.layout_lines()) std::printf("  %s\n", line.c_str());
    if (const char* job = std::getenv("SLURM_JOB_ID")) {
      const char* nodes = std::getenv("SLURM_JOB_NODELIST");
      const char* restarts = std::getenv("SLURM_RESTART_COUNT");
      std::printf("slurm: job %s, nodes %s, restart count %s\n", job, nodes ? nodes : "?", restarts ? restarts : "0");
    }
    std::fflush(stdout);
  }
  // Collective over the world (it splits the EP group by node), so before the engine.
  std::unique_ptr<Transport> transport = make_transport(grid.world_rank());
  if (cfg.parallel.a2a == A2aAlgo::hierarchical) {
    std::string note;
    std::unique_ptr<A2aHierarchy> hierarchy = A2aHierarchy::create(grid, &note);
    if (lead) {
      std::printf("a2a: %s\n", note.c_str());
      std::fflush(stdout);
    }
    if (hierarchy)
      transport = std::make_unique<HierarchicalA2aTransport>(std::move(transport), std::move(hierarchy));
  }
  // train.device = cuda: collectives on tensors (all-to-alls, gradient buckets) go to
  // NCCL on a stream of their own; host buffers still to MPI (flat or hierarchical).
  if (cfg.train.device == DeviceKind::cuda)
    transport = make_device_transport(std::move(transport), grid,
                                      rank_device({grid.local_rank(), grid.ranks_on_this_node(), grid.hostname()}));
  CommEngine engine(grid, std::move(transport), cfg.parallel.stall_timeout_s);

  // Start-up errors (config, data, checkpoint) usually strike every rank alike.
  // The ranks agree on the outcome before anyone stops, so all exit with the
  // documented code and the lowest failing rank says why, once.
  std::unique_ptr<Trainer> trainer;
  std::string error;
  int64_t outcome[2] = {0, 0};  // {exit code, W − lowest failing rank}
  try {
    trainer = std::make_unique<Trainer>(cfg, engine);
  } catch (const Error& e) {
    error = e.what();
    outcome[0] = static_cast<int64_t>(e.code());
    outcome[1] = grid.world_size() - grid.world_rank();
  }
  engine.all_reduce_max(Group::world, outcome, 2, "startup.outcome").wait();
  if (outcome[0] != 0) {
    if (grid.world_size() - outcome[1] == grid.world_rank()) std::fprintf(stderr, "switchyard: %s\n", error.c_str());
    return static_cast<int>(outcome[0]);
  }
  if (lead) {
    std::printf("data: %s\nmodel: %lld parameters on rank 0\n", trainer->data().describe().c_str(),
                (long long)trainer->model().params().numel());
    std::fflush(stdout);
  }
  try {
    trainer->run();
  } catch (const NumericalError& e) {
    // Decided from world-reduced values: every rank throws it at the same step.
    if (lead) std::fprintf(stderr, "switchyard: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const Error& e) {
    // Say what went wrong before the engine tells the other ranks to stop:
    // they may bring the job down before this rank would return to main.
    std::fprintf(stderr, "switchyard: %s\n", e.what());
    std::fflush(stderr);
    engine.leave_with_error(e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}

}  // namespace sy
