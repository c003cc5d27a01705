// tests/mpi/grid_test.cpp — ParallelGrid membership for every EP size that divides the world, checked by exact rank lists and by traffic.
#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>
#include <string>
#include <vector>

#include "comm/parallel_grid.h"
#include "mpi_test_main.h"
#include "runtime/error.h"

namespace sy {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int w = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &w);
  return w;
}

std::vector<int> range(int first, int count, int stride) {
  std::vector<int> v;
  for (int j = 0; j < count; ++j) v.push_back(first + j * stride);
  return v;
}

// Sum of world ranks over a communicator, by an actual collective.
int sum_of_world_ranks(const Communicator& c) {
  int mine = world_rank(), sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, c.get());
  return sum;
}

TEST(ParallelGrid, MembershipForEveryDivisor) {
  const int W = world_size(), r = world_rank();
  for (int ep = 1; ep <= W; ++ep) {
    if (W % ep != 0) continue;
    SCOPED_TRACE("W=" + std::to_string(W) + " ep=" + std::to_string(ep));
    const ParallelGrid g = ParallelGrid::create(ep);
    const std::vector<int> ep_members = range(r / ep * ep, ep, 1);
    const std::vector<int> dp_members = range(r % ep, W / ep, ep);
    EXPECT_EQ(g.members(Group::world), range(0, W, 1));
    EXPECT_EQ(g.members(Group::ep), ep_members);
    EXPECT_EQ(g.members(Group::expert_dp), dp_members);
    EXPECT_EQ(g.members(Group::node), range(0, W, 1));  // one host here

    EXPECT_EQ(g.world_rank(), r);
    EXPECT_EQ(g.world_size(), W);
    EXPECT_EQ(g.ep_size(), ep);
    EXPECT_EQ(g.ep_rank(), r % ep);
    EXPECT_EQ(g.rank(Group::ep), r % ep);
    EXPECT_EQ(g.dp_size(), W / ep);
    EXPECT_EQ(g.dp_rank(), r / ep);
    EXPECT_EQ(g.rank(Group::expert_dp), r / ep);
    EXPECT_EQ(g.size(Group::node), W);
    EXPECT_EQ(g.local_rank(), r);
    EXPECT_EQ(g.ranks_on_this_node(), W);
    EXPECT_EQ(g.node_count(), 1);
    EXPECT_EQ(g.node_index(), 0);
    EXPECT_FALSE(g.hostname().empty());
    EXPECT_EQ(g.host_of(W - 1), g.hostname());

    // The communicators really connect those ranks.
    EXPECT_EQ(sum_of_world_ranks(g.comm(Group::ep)), std::accumulate(ep_members.begin(), ep_members.end(), 0));
    EXPECT_EQ(sum_of_world_ranks(g.comm(Group::expert_dp)),
              std::accumulate(dp_members.begin(), dp_members.end(), 0));
    EXPECT_EQ(sum_of_world_ranks(g.comm(Group::world)), W * (W - 1) / 2);

    // Rank 0 prints one line per node.
    const auto lines = g.layout_lines();
    ASSERT_EQ(lines.size(), 1u);
    std::string expected = "node 0 (" + g.hostname() + ", " + std::to_string(W) + (W == 1 ? " rank): " : " ranks): ");
    for (int q = 0; q < W; ++q)
      expected += (q ? " | r" : "r") + std::to_string(q) + " ep-group " + std::to_string(q / ep) + " ep-rank " +
                  std::to_string(q % ep);
    EXPECT_EQ(lines[0], expected);
    EXPECT_NE(g.summary().find("world " + std::to_string(W) + " = " + std::to_string(W / ep) + " EP group"),
              std::string::npos)
        << g.summary();
  }
}

TEST(ParallelGrid, EpThatDoesNotDivideTheWorldNamesTheKey) {
  const int W = world_size();
  for (int ep : {0, W + 1}) {
    try {
      ParallelGrid::create(ep);
      ADD_FAILURE() << "ep=" << ep << " accepted";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("parallel.ep"), std::string::npos) << msg;
      if (ep > 0) {
        EXPECT_NE(msg.find("world size " + std::to_string(W)), std::string::npos) << msg;
      }
    }
  }
}

TEST(ParallelGrid, MovedCommunicatorKeepsWorking) {
  ParallelGrid a = ParallelGrid::create(1);
  ParallelGrid b = std::move(a);
  EXPECT_FALSE(a.comm(Group::world).valid());
  EXPECT_EQ(sum_of_world_ranks(b.comm(Group::world)), world_size() * (world_size() - 1) / 2);
}

}  // namespace
}  // namespace sy

SY_MPI_TEST_MAIN
