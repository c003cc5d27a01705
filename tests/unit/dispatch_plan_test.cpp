// tests/unit/dispatch_plan_test.cpp — DispatchPlan: capacity, drop order, counts, offsets, permutation, EP split.
#include "model/dispatch_plan.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace sy {
namespace {

using V32 = std::vector<int32_t>;
using V64 = std::vector<int64_t>;

// N = 6 tokens, k = 2, E = 3; (first, second) choice per token.
const V32 kRouting = {0, 1,   // token 0
                      0, 2,   // token 1
                      0, 1,   // token 2
                      1, 0,   // token 3
                      2, 1,   // token 4
                      1, 2};  // token 5

TEST(ExpertCapacity, CeilOfFactorTimesAssignmentsPerExpert) {
  EXPECT_EQ(expert_capacity(0.5, 6, 2, 3), 2);   // 0.5·12/3 = 2 exactly
  EXPECT_EQ(expert_capacity(0.0, 6, 2, 3), 0);   // dropless
  EXPECT_EQ(expert_capacity(1.0, 10, 2, 4), 5);
  EXPECT_EQ(expert_capacity(1.25, 10, 2, 4), 7);  // ⌈6.25⌉
  EXPECT_EQ(expert_capacity(1.1, 25, 2, 5), 11);  // 1.1·25·2/5 = 11.000000000000002 in doubles
  EXPECT_EQ(expert_capacity(1e-6, 4, 1, 4), 1);   // never 0 (which would mean dropless)
}

TEST(DispatchPlan, CapacityDropsSecondChoicesFirstThenLaterTokens) {
  // Capacity 2.  First choices in token order: t0→e0, t1→e0, t2→e0 DROP (full), t3→e1,
  // t4→e2, t5→e1.  Second choices: t0→e1 DROP, t1→e2 kept, t2→e1 DROP, t3→e0 DROP,
  // t4→e1 DROP, t5→e2 DROP.
  const DispatchPlan plan = build_dispatch_plan(kRouting.data(), 6, 2, 3, expert_capacity(0.5, 6, 2, 3));
  EXPECT_EQ(plan.capacity, 2);
  EXPECT_EQ(plan.counts_before_drop, (V64{4, 5, 3}));
  EXPECT_EQ(plan.counts, (V64{2, 2, 2}));
  EXPECT_EQ(plan.offsets, (V64{0, 2, 4, 6}));
  EXPECT_EQ(plan.dropped, 6);
  EXPECT_DOUBLE_EQ(plan.dropped_fraction(), 0.5);
  ASSERT_EQ(plan.rows(), 6);
  // Rows grouped by expert, placement order inside an expert (t4's first choice before t1's second).
  EXPECT_EQ(plan.row_token, (V32{0, 1, 3, 5, 4, 1}));
  EXPECT_EQ(plan.row_slot, (V32{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(plan.row_expert, (V32{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(plan.row_assignment, (V32{0, 2, 6, 10, 8, 3}));
  EXPECT_EQ(plan.assignment_row, (V32{0, -1, 1, 5, -1, -1, 2, -1, 4, -1, 3, -1}));
  EXPECT_EQ(plan.rank_counts, (V64{6}));
  EXPECT_EQ(plan.rank_offsets, (V64{0, 6}));
}

TEST(DispatchPlan, DroplessKeepsEveryAssignment) {
  const DispatchPlan plan = build_dispatch_plan(kRouting.data(), 6, 2, 3, 0);
  EXPECT_EQ(plan.counts, (V64{4, 5, 3}));
  EXPECT_EQ(plan.counts_before_drop, plan.counts);
  EXPECT_EQ(plan.offsets, (V64{0, 4, 9, 12}));
  EXPECT_EQ(plan.dropped, 0);
  EXPECT_EQ(plan.row_token, (V32{0, 1, 2, 3, /*e1*/ 3, 5, 0, 2, 4, /*e2*/ 4, 1, 5}));
  EXPECT_EQ(plan.row_slot, (V32{0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1}));
  for (int64_t a = 0; a < 12; ++a) {
    const int32_t row = plan.assignment_row[a];
    ASSERT_GE(row, 0);
    EXPECT_EQ(plan.row_assignment[row], a);
    EXPECT_EQ(plan.row_expert[row], kRouting[a]);
  }
}

TEST(DispatchPlan, CapacityLargerThanDemandDropsNothing) {
  const DispatchPlan plan = build_dispatch_plan(kRouting.data(), 6, 2, 3, 5);
  EXPECT_EQ(plan.dropped, 0);
  EXPECT_EQ(plan.counts, (V64{4, 5, 3}));
}

TEST(DispatchPlan, RowsForEachEpPeerAreContiguous) {
  // E = 4, ep 2 → peer 0 owns experts {0, 1}, peer 1 owns {2, 3}; expert 1 gets nothing.
  const V32 routing = {3, 0, 2, 3, 0};  // N = 5, k = 1
  const DispatchPlan plan = build_dispatch_plan(routing.data(), 5, 1, 4, 0, 2);
  EXPECT_EQ(plan.counts, (V64{2, 0, 1, 2}));
  EXPECT_EQ(plan.offsets, (V64{0, 2, 2, 3, 5}));
  EXPECT_EQ(plan.rank_counts, (V64{2, 3}));
  EXPECT_EQ(plan.rank_offsets, (V64{0, 2, 5}));
  EXPECT_EQ(plan.row_token, (V32{1, 4, 2, 0, 3}));
}

TEST(DispatchPlan, EmptyMicroBatch) {
  const DispatchPlan plan = build_dispatch_plan(nullptr, 0, 2, 4, expert_capacity(1.0, 0, 2, 4), 2);
  EXPECT_EQ(plan.rows(), 0);
  EXPECT_EQ(plan.counts, (V64{0, 0, 0, 0}));
  EXPECT_EQ(plan.rank_offsets, (V64{0, 0, 0}));
  EXPECT_DOUBLE_EQ(plan.dropped_fraction(), 0.0);
}

TEST(DispatchPlanSlice, TokenRangesKeepTheWholePlansDropsAndRowOrder) {
  // Capacity 2 as above; EP 3 (one expert per peer).  Chunks: tokens [0, 2), [2, 4), [4, 6).
  const DispatchPlan plan = build_dispatch_plan(kRouting.data(), 6, 2, 3, 2, 3);
  const DispatchPlan a = slice_dispatch_plan(plan, 0, 2), b = slice_dispatch_plan(plan, 2, 4),
                     c = slice_dispatch_plan(plan, 4, 6);
  // Whole plan rows: tokens {0, 1 | 3, 5 | 4, 1} by expert; kept assignments 0, 2, 6, 10, 8, 3.
  EXPECT_EQ(a.row_token, (V32{0, 1, 1}));
  EXPECT_EQ(a.row_expert, (V32{0, 0, 2}));
  EXPECT_EQ(a.row_assignment, (V32{0, 2, 3}));
  EXPECT_EQ(a.counts, (V64{2, 0, 1}));
  EXPECT_EQ(a.offsets, (V64{0, 2, 2, 3}));
  EXPECT_EQ(a.rank_counts, (V64{2, 0, 1}));
  EXPECT_EQ(a.rank_offsets, (V64{0, 2, 2, 3}));
  EXPECT_EQ(a.dropped, 1);  // token 0's second choice
  EXPECT_EQ(a.assignment_row, (V32{0, -1, 1, 2, -1, -1, -1, -1, -1, -1, -1, -1}));
  EXPECT_EQ(b.row_token, (V32{3}));  // token 2 entirely dropped; token 3's second choice dropped
  EXPECT_EQ(b.dropped, 3);
  EXPECT_EQ(c.row_token, (V32{5, 4}));
  EXPECT_EQ(c.row_expert, (V32{1, 2}));
  EXPECT_EQ(c.dropped, 2);
  EXPECT_EQ(a.dropped + b.dropped + c.dropped, plan.dropped);
  EXPECT_EQ(a.capacity, 2);
  EXPECT_EQ(c.tokens, 6);
  EXPECT_TRUE(c.counts_before_drop.empty());

  // The full range is the plan itself; an empty range has no rows.
  const DispatchPlan all = slice_dispatch_plan(plan, 0, 6);
  EXPECT_EQ(all.row_token, plan.row_token);
  EXPECT_EQ(all.row_slot, plan.row_slot);
  EXPECT_EQ(all.row_expert, plan.row_expert);
  EXPECT_EQ(all.row_assignment, plan.row_assignment);
  EXPECT_EQ(all.assignment_row, plan.assignment_row);
  EXPECT_EQ(all.offsets, plan.offsets);
  EXPECT_EQ(all.rank_offsets, plan.rank_offsets);
  const DispatchPlan none = slice_dispatch_plan(plan, 3, 3);
  EXPECT_EQ(none.rows(), 0);
  EXPECT_EQ(none.rank_offsets, (V64{0, 0, 0, 0}));
  EXPECT_THROW(slice_dispatch_plan(plan, 4, 7), std::logic_error);
}

TEST(DispatchPlan, RejectsBadExpertIndex) {
  const V32 routing = {0, 4};
  EXPECT_THROW(build_dispatch_plan(routing.data(), 2, 1, 4, 0), std::logic_error);
}

}  // namespace
}  // namespace sy
