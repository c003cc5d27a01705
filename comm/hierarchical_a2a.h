// comm/hierarchical_a2a.h — HierarchicalA2aTransport: the EP all-to-all in Tutel's 2D scheme (A2aHierarchy: the node split).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/parallel_grid.h"
#include "comm/transport.h"

namespace sy {

// How this rank's EP group splits into nodes: N nodes holding S members each.
// Nodes are numbered m = 0..N-1 in the order of their lowest EP member; a
// member's local index j = 0..S-1 is its place among the node's members in EP
// order.  member_of[m·S + j] is the EP member index of (m, j).
struct A2aHierarchy {
  MPI_Comm ep = MPI_COMM_NULL;  // the grid's EP communicator: the ops this applies to
  Communicator local;           // the EP members on this node, by local index
  Communicator local_counts;    // the same members: the count stage has a communicator of its own
  Communicator cross;           // the EP members with this rank's local index, by node
  int nodes = 1, per_node = 1;
  int node = 0, local_index = 0;  // this rank's (m, j)
  std::vector<int> member_of;

  // Collective over the world.  Returns nullptr when the 2D exchange does not
  // apply to every EP group — a group within one node, nodes holding unequal
  // numbers of its members, or one member per node — and the job then runs the
  // flat all-to-all everywhere.  `note` (every rank) says which and why, for
  // rank 0 to print.
  //
  // Node of each world rank: the grid's node (shared memory), unless
  // `node_of_world_rank` is given, or unless the test-only hook
  // SWITCHYARD_TEST_NODE_SIZE=K is set (world rank r is on fake node ⌊r/K⌋; rank
  // 0 prints a warning; a malformed value is a ConfigError).
  static std::unique_ptr<A2aHierarchy> create(const ParallelGrid& grid, std::string* note,
                                              const std::vector<int>* node_of_world_rank = nullptr);
};

// Transport decorator.  An all_to_all_v on the EP communicator becomes three
// operations of the inner transport, run one after the other by test():
//   1. counts:  within the node, member j learns the bytes every node-mate sends
//               to (m, j) for every node m (N int64 per node-mate);
//   2. local:   within the node, member j gathers everything its node-mates
//               send to (m, j) for every m — packed node-major;
//   3. cross:   across nodes, between the members with the same local index: (n, j)
//               sends node m's member j everything gathered for it.
// Stage 3 lands node-major then local-index (EP member order when the nodes
// hold contiguous blocks of the EP group, in which case it lands in place);
// otherwise a last copy restores EP member order.  The engine sees one op with
// one sequence number, so stall reports name it as usual.  Everything else
// passes through to the inner transport unchanged.
//
// Several all-to-alls may be in flight, and their stages complete in different
// orders on different ranks; MPI needs the collectives on each communicator
// posted in the same order everywhere.  So each stage has its own communicator
// and a stage of the k-th all-to-all is posted only after the same stage of the
// (k-1)-th: on every communicator, the all-to-alls' order of submission.
class HierarchicalA2aTransport : public Transport {
 public:
  HierarchicalA2aTransport(std::unique_ptr<Transport> inner, std::unique_ptr<A2aHierarchy> hierarchy);
  std::unique_ptr<TransportRequest> start(const TransportOp& op) override;
  bool test(TransportRequest& request) override;

 private:
  std::unique_ptr<Transport> inner_;
  std::unique_ptr<A2aHierarchy> h_;
  int64_t next_id_ = 0;                       // given to the next EP all-to-all
  int64_t next_local_ = 0, next_cross_ = 0;   // whose local / cross stage may be posted next
};

}  // namespace sy
