// tests/unit/nccl_a2a_plan_test.cpp — the all-to-all-v peer plan the NCCL transport posts, checked on the CPU.
#include <gtest/gtest.h>

#include "comm/nccl/a2a_plan.h"

namespace sy {
namespace {

TEST(A2aPlan, OffsetsAreRunningSumsInMemberOrderAndEmptyPeersAreSkipped) {
  const auto plan = plan_all_to_all({8, 0, 4, 0}, {2, 6, 0, 0});
  ASSERT_EQ(plan.size(), 3u);  // member 3 has nothing either way
  EXPECT_EQ(plan[0].peer, 0);
  EXPECT_EQ(plan[0].send_offset, 0);
  EXPECT_EQ(plan[0].send_bytes, 8);
  EXPECT_EQ(plan[0].recv_offset, 0);
  EXPECT_EQ(plan[0].recv_bytes, 2);
  EXPECT_EQ(plan[1].peer, 1);
  EXPECT_EQ(plan[1].send_offset, 8);
  EXPECT_EQ(plan[1].send_bytes, 0);
  EXPECT_EQ(plan[1].recv_offset, 2);
  EXPECT_EQ(plan[1].recv_bytes, 6);
  EXPECT_EQ(plan[2].peer, 2);
  EXPECT_EQ(plan[2].send_offset, 8);
  EXPECT_EQ(plan[2].send_bytes, 4);
  EXPECT_EQ(plan[2].recv_offset, 8);
  EXPECT_EQ(plan[2].recv_bytes, 0);
}

TEST(A2aPlan, RejectsMismatchedOrNegativeCounts) {
  EXPECT_THROW(plan_all_to_all({1, 2}, {1}), std::invalid_argument);
  EXPECT_THROW(plan_all_to_all({1, -2}, {1, 1}), std::invalid_argument);
  EXPECT_TRUE(plan_all_to_all({0, 0}, {0, 0}).empty());
}

}  // namespace
}  // namespace sy
