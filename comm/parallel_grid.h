// comm/parallel_grid.h — ParallelGrid: the world / EP / expert-DP / node communicators of DESIGN.md §4.
#pragma once
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/communicator.h"

namespace sy {

// For W ranks and EP size e (DESIGN.md §4, a contract):
//   EP group of rank r:        {⌊r/e⌋·e + j : j < e}; r's index in it, ep_rank, is r mod e
//   expert-DP group of rank r: {(r mod e) + j·e : j < W/e}; r's index in it, dp_rank, is ⌊r/e⌋
//   node group:                the ranks sharing memory with r (MPI_COMM_TYPE_SHARED)
// Every communicator is our own (world is a dup of MPI_COMM_WORLD).  Must die
// before the MpiRuntime.
class ParallelGrid {
 public:
  // Collective over MPI_COMM_WORLD.  Throws ConfigError naming `parallel.ep` when
  // ep < 1 or ep does not divide the world size (the same decision on every rank,
  // so no rank is left waiting).
  static ParallelGrid create(int ep);

  const Communicator& comm(Group g) const;
  int rank(Group g) const { return comm(g).rank(); }
  int size(Group g) const { return comm(g).size(); }
  // World ranks of the members of this rank's group g, in member order.
  const std::vector<int>& members(Group g) const { return comm(g).world_ranks(); }

  int world_rank() const { return world_.rank(); }
  int world_size() const { return world_.size(); }
  int ep_size() const { return ep_.size(); }
  int ep_rank() const { return ep_.rank(); }          // r mod ep: which expert shard this rank holds
  int dp_size() const { return expert_dp_.size(); }   // W / ep: replicas of each shard
  int dp_rank() const { return expert_dp_.rank(); }   // ⌊r/ep⌋: which EP group this rank is in
  int local_rank() const { return node_.rank(); }
  int ranks_on_this_node() const { return node_.size(); }
  int node_count() const { return static_cast<int>(node_hosts_.size()); }
  int node_index() const { return node_of_rank_[world_rank()]; }
  int node_of(int world_rank) const { return node_of_rank_.at(world_rank); }
  const std::string& hostname() const { return hosts_[world_rank()]; }
  // Host name of any world rank (gathered at creation; used in failure reports).
  const std::string& host_of(int world_rank) const { return hosts_.at(world_rank); }

  // "world 4 = 2 EP groups of 2 ranks (expert-DP size 2) on 1 node"
  std::string summary() const;
  // One line per node for rank 0 to print, e.g.
  // "node 0 (vm, 4 ranks): r0 ep-group 0 ep-rank 0 | r1 ep-group 0 ep-rank 1 | ..."
  std::vector<std::string> layout_lines() const;

 private:
  ParallelGrid() = default;

  Communicator world_, ep_, expert_dp_, node_;
  std::vector<std::string> hosts_;         // by world rank
  std::vector<int> node_of_rank_;          // by world rank
  std::vector<std::string> node_hosts_;    // by node index
};

}  // namespace sy
