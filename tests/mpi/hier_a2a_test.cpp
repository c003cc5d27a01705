// tests/mpi/hier_a2a_test.cpp — the 2D EP all-to-all delivers exactly the flat one's bytes; when it falls back, and why.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "comm/comm_engine.h"
#include "comm/hierarchical_a2a.h"
#include "comm/mpi_transport.h"
#include "comm/parallel_grid.h"
#include "mpi_test_main.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace sy {
namespace {

int world() {
  int w = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &w);
  return w;
}

#define REQUIRE_RANKS(n) \
  if (world() != (n)) GTEST_SKIP() << "written for " << (n) << " ranks"

// Elements (int64) EP member `src` sends to member `dst` under each count pattern.
enum class Pattern { random, all_zero, self_only, one_hot, skewed, large };
int64_t rows(Pattern p, int src, int dst, int round) {
  switch (p) {
    case Pattern::random: {
      const uint64_t h = mix64(fnv1a("hier") ^ (uint64_t(src) << 40) ^ (uint64_t(dst) << 20) ^ uint64_t(round));
      return h % 3 == 0 ? 0 : static_cast<int64_t>(h % 9);
    }
    case Pattern::all_zero: return 0;
    case Pattern::self_only: return src == dst ? 5 : 0;
    case Pattern::one_hot: return dst == world() - 1 ? 7 + src : 0;  // all to the last member
    case Pattern::skewed: return src == 1 ? 3 * dst + 1 : (dst == 0 ? 2 : 0);
    case Pattern::large: return 5000 + 37 * src + 11 * dst;  // 40 KB blocks
  }
  return 0;
}
// Every element names its source's world rank, its destination member and its index.
int64_t payload(int src_world, int dst, int64_t i) { return src_world * 100'000'000LL + dst * 1'000'000LL + i; }

struct A2a {
  std::vector<int64_t> send, recv, send_bytes, recv_bytes;
};

A2a make(const ParallelGrid& grid, Pattern p, int round) {
  A2a b;
  const int n = grid.ep_size(), me = grid.ep_rank();
  int64_t total = 0;
  for (int q = 0; q < n; ++q) {
    const int64_t k = rows(p, me, q, round);
    for (int64_t i = 0; i < k; ++i) b.send.push_back(payload(grid.world_rank(), q, i));
    b.send_bytes.push_back(k * 8);
    b.recv_bytes.push_back(rows(p, q, me, round) * 8);
    total += rows(p, q, me, round);
  }
  b.recv.assign(total, -1);
  return b;
}

void expect_flat_result(const ParallelGrid& grid, Pattern p, int round, const A2a& b) {
  const int me = grid.ep_rank();
  size_t at = 0;
  for (int q = 0; q < grid.ep_size(); ++q)
    for (int64_t i = 0; i < rows(p, q, me, round); ++i, ++at)
      ASSERT_EQ(b.recv.at(at), payload(grid.members(Group::ep)[q], me, i))
          << "pattern " << int(p) << " round " << round << " from member " << q << " row " << i;
  EXPECT_EQ(at, b.recv.size());
}

// Runs every pattern, several rounds of each all in flight at once, through a
// hierarchical engine over `nodes` (node of each world rank).
void run_patterns(const std::vector<int>& nodes, int n_nodes, int per_node, const std::vector<int>& want_member_of) {
  ParallelGrid grid = ParallelGrid::create(world());
  std::string note;
  auto h = A2aHierarchy::create(grid, &note, &nodes);
  ASSERT_NE(h, nullptr) << note;
  EXPECT_EQ(h->nodes, n_nodes);
  EXPECT_EQ(h->per_node, per_node);
  EXPECT_EQ(h->member_of, want_member_of);
  EXPECT_NE(note.find("spans " + std::to_string(n_nodes) + " nodes of " + std::to_string(per_node) + " members"),
            std::string::npos)
      << note;
  CommEngine engine(grid, std::make_unique<HierarchicalA2aTransport>(std::make_unique<MpiTransport>(), std::move(h)),
                    /*stall_timeout_s=*/30.0);
  const std::vector<Pattern> patterns = {Pattern::random,  Pattern::all_zero, Pattern::self_only,
                                         Pattern::one_hot, Pattern::skewed,   Pattern::large};
  std::vector<A2a> bufs;
  std::vector<std::pair<Pattern, int>> what;
  for (Pattern p : patterns)
    for (int round = 0; round < 3; ++round) {
      bufs.push_back(make(grid, p, round));
      what.emplace_back(p, round);
    }
  std::vector<CommHandle> handles;
  int64_t world_sum = grid.world_rank();  // a non-EP op in between passes straight through
  for (size_t k = 0; k < bufs.size(); ++k) {
    handles.push_back(engine.all_to_all_v(Group::ep, bufs[k].send.data(), bufs[k].send_bytes, bufs[k].recv.data(),
                                          bufs[k].recv_bytes, "hier a2a " + std::to_string(k)));
    if (k == 4) handles.push_back(engine.all_reduce_sum(Group::world, &world_sum, 1, "world sum"));
  }
  for (auto& hd : handles) hd.wait();
  EXPECT_EQ(world_sum, int64_t(world()) * (world() - 1) / 2);
  for (size_t k = 0; k < bufs.size(); ++k) expect_flat_result(grid, what[k].first, what[k].second, bufs[k]);
}

TEST(HierarchicalA2a, NodesAsContiguousBlocksLandInPlace) {
  if (world() == 6) {
    run_patterns({0, 0, 0, 1, 1, 1}, 2, 3, {0, 1, 2, 3, 4, 5});
    run_patterns({0, 0, 1, 1, 2, 2}, 3, 2, {0, 1, 2, 3, 4, 5});
    return;
  }
  REQUIRE_RANKS(4);
  run_patterns({0, 0, 1, 1}, 2, 2, {0, 1, 2, 3});
}

TEST(HierarchicalA2a, InterleavedNodesAreReorderedToMemberOrder) {
  if (world() == 6) {
    run_patterns({0, 1, 2, 0, 1, 2}, 3, 2, {0, 3, 1, 4, 2, 5});
    run_patterns({5, 5, 4, 4, 5, 4}, 2, 3, {0, 1, 4, 2, 3, 5});
    return;
  }
  REQUIRE_RANKS(4);
  // Node 7 = {0, 2}, node 3 = {1, 3}: node numbers are arbitrary, order is by lowest member.
  run_patterns({7, 3, 7, 3}, 2, 2, {0, 2, 1, 3});
}

TEST(HierarchicalA2a, TestHookGroupsWorldRanksIntoFakeNodes) {
  REQUIRE_RANKS(4);
  ParallelGrid grid = ParallelGrid::create(4);
  setenv("SWITCHYARD_TEST_NODE_SIZE", "2", 1);
  std::string note;
  auto h = A2aHierarchy::create(grid, &note);
  unsetenv("SWITCHYARD_TEST_NODE_SIZE");
  ASSERT_NE(h, nullptr) << note;
  EXPECT_EQ(h->member_of, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(h->node, grid.world_rank() / 2);
  EXPECT_EQ(h->local_index, grid.world_rank() % 2);
  EXPECT_EQ(h->local.size(), 2);
  EXPECT_EQ(h->cross.size(), 2);
  EXPECT_EQ(h->cross.world_ranks(), (std::vector<int>{grid.world_rank() % 2, grid.world_rank() % 2 + 2}));

  setenv("SWITCHYARD_TEST_NODE_SIZE", "two", 1);
  EXPECT_THROW(A2aHierarchy::create(grid, &note), ConfigError);
  unsetenv("SWITCHYARD_TEST_NODE_SIZE");
}

TEST(HierarchicalA2a, FallsBackToFlatAndSaysWhy) {
  REQUIRE_RANKS(4);
  struct Case {
    int ep;
    std::vector<int> nodes;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {4, {0, 0, 0, 0}, "the EP group lies within one node"},
      {4, {0, 0, 0, 1}, "unequal numbers of EP members (3, 1)"},
      {4, {0, 1, 2, 3}, "each node holds one EP member"},
      {2, {0, 0, 1, 1}, "the EP group lies within one node"},  // EP groups {0,1} and {2,3}
      {2, {0, 1, 0, 1}, "each node holds one EP member"},
  };
  for (const Case& c : cases) {
    ParallelGrid grid = ParallelGrid::create(c.ep);
    std::string note;
    EXPECT_EQ(A2aHierarchy::create(grid, &note, &c.nodes), nullptr) << c.reason;
    EXPECT_NE(note.find("falls back to the flat all-to-all"), std::string::npos) << note;
    EXPECT_NE(note.find(c.reason), std::string::npos) << note;
  }
}

}  // namespace
}  // namespace sy

SY_MPI_TEST_MAIN
