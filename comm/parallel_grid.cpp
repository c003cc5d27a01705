// comm/parallel_grid.cpp — building the communicators of the parallel layout and describing them.
#include "comm/parallel_grid.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>

#include "comm/mpi_check.h"
#include "comm/mpi_runtime.h"
#include "runtime/error.h"

namespace sy {

ParallelGrid ParallelGrid::create(int ep) {
  int world_size = 1;
  SY_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world_size));
  if (ep < 1) throw ConfigError("parallel.ep = " + std::to_string(ep) + " must be at least 1");
  if (world_size % ep != 0)
    throw ConfigError("parallel.ep = " + std::to_string(ep) + " does not divide the world size " +
                      std::to_string(world_size) + " (ranks started by mpirun/srun)");

  ParallelGrid g;
  g.world_ = Communicator::dup_world();
  const int r = g.world_.rank();
  g.ep_ = g.world_.split(/*color=*/r / ep, /*key=*/r);
  g.expert_dp_ = g.world_.split(/*color=*/r % ep, /*key=*/r);
  g.node_ = g.world_.split_shared(/*key=*/r);

  // Host names and node indices of every rank, for layout lines and failure reports.
  constexpr int kHostLen = 256;
  std::array<char, kHostLen> mine{};
  const std::string host = local_hostname();
  std::strncpy(mine.data(), host.c_str(), kHostLen - 1);
  std::vector<char> all(static_cast<size_t>(kHostLen) * world_size);
  SY_MPI(MPI_Allgather(mine.data(), kHostLen, MPI_CHAR, all.data(), kHostLen, MPI_CHAR, g.world_.get()));
  for (int q = 0; q < world_size; ++q) g.hosts_.emplace_back(&all[static_cast<size_t>(q) * kHostLen]);

  // A node is named by its lowest world rank; nodes are numbered in that order.
  int leader = g.node_.world_ranks().front();
  std::vector<int> leaders(world_size);
  SY_MPI(MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, g.world_.get()));
  std::vector<int> distinct = leaders;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (int q = 0; q < world_size; ++q)
    g.node_of_rank_.push_back(
        static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), leaders[q]) - distinct.begin()));
  for (int l : distinct) g.node_hosts_.push_back(g.hosts_[l]);
  return g;
}

const Communicator& ParallelGrid::comm(Group g) const {
  switch (g) {
    case Group::world: return world_;
    case Group::ep: return ep_;
    case Group::expert_dp: return expert_dp_;
    case Group::node: return node_;
  }
  return world_;
}

std::string ParallelGrid::summary() const {
  std::ostringstream os;
  const int groups = world_size() / ep_size();
  os << "world " << world_size() << " = " << groups << " EP group" << (groups == 1 ? "" : "s") << " of "
     << ep_size() << " rank" << (ep_size() == 1 ? "" : "s") << " (expert-DP size " << dp_size() << ") on "
     << node_count() << " node" << (node_count() == 1 ? "" : "s");
  return os.str();
}

std::vector<std::string> ParallelGrid::layout_lines() const {
  const int e = ep_size();
  std::vector<std::string> lines;
  for (int n = 0; n < node_count(); ++n) {
    std::ostringstream os;
    int count = 0;
    std::ostringstream ranks;
    for (int q = 0; q < world_size(); ++q) {
      if (node_of_rank_[q] != n) continue;
      ranks << (count++ ? " | " : "") << "r" << q << " ep-group " << q / e << " ep-rank " << q % e;
    }
    os << "node " << n << " (" << node_hosts_[n] << ", " << count << " rank" << (count == 1 ? "" : "s")
       << "): " << ranks.str();
    lines.push_back(os.str());
  }
  return lines;
}

}  // namespace sy
