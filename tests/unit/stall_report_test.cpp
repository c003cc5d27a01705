// tests/unit/stall_report_test.cpp — the stall report's exact wording from a status-board table (no MPI needed).
#include "comm/stall_report.h"

#include <gtest/gtest.h>

namespace sy {
namespace {

RankState row(int rank, int64_t entered, const std::string& label, int64_t pending, bool connected = true) {
  RankState s;
  s.rank = rank;
  s.host = "node" + std::to_string(rank / 2);
  s.entered = entered;
  s.entered_label = label;
  s.pending = pending;
  s.connected = connected;
  return s;
}

TEST(StallReport, NamesTheOpAndTheRanksThatNeverPostedIt) {
  const StalledOp op{OpKind::all_reduce, "grad bucket 5", 5, Group::world, 8, 1.54};
  const std::vector<RankState> table = {row(0, 5, "grad bucket 5", 5), row(1, 4, "dispatch 4", 5),
                                        row(2, 5, "grad bucket 5", 5), row(3, 3, "x", 3, false)};
  const StallReport r = make_stall_report(op, {0, 1, 2, 3}, table, "rank 2 (node1)");
  EXPECT_EQ(r.line,
            "switchyard: stall: all_reduce 'grad bucket 5' seq 5 on group world (8 bytes) not complete after 1.5 s; "
            "ranks not arrived: 1 (node0, last at seq 4 'dispatch 4'), 3 (node1, last at seq 3 'x', disconnected); "
            "reported by rank 2 (node1)");
  EXPECT_EQ(r.summary,
            "rank 2 (node1) reported a stall of all_reduce 'grad bucket 5' seq 5 on group world; ranks not arrived: 1, 3");
}

TEST(StallReport, OnlyMembersOfTheGroupCount) {
  // Group ep = {2, 3}: rank 0 is behind too, but it is not in the op's group.
  const StalledOp op{OpKind::all_to_all_v, "dispatch 6", 6, Group::ep, 16, 2.0};
  const std::vector<RankState> table = {row(0, 0, "", 1), row(1, 7, "grad bucket 7", 7), row(2, 6, "dispatch 6", 6),
                                        row(3, 5, "grad bucket 5", 6)};
  const StallReport r = make_stall_report(op, {2, 3}, table, "rank 2 (node1)");
  EXPECT_EQ(r.line,
            "switchyard: stall: all_to_all_v 'dispatch 6' seq 6 on group ep (16 bytes) not complete after 2.0 s; "
            "ranks not arrived: 3 (node1, last at seq 5 'grad bucket 5'); reported by rank 2 (node1)");
}

TEST(StallReport, WhenEveryoneArrivedItNamesWhoDidNotComplete) {
  const StalledOp op{OpKind::barrier, "fence", 9, Group::world, 0, 3.25};
  const std::vector<RankState> table = {row(0, 9, "fence", 10), row(1, 9, "fence", 9), row(2, 0, "", 1)};
  const StallReport r = make_stall_report(op, {0, 1}, table, "rank 1 (node0)");
  EXPECT_EQ(r.line,
            "switchyard: stall: barrier 'fence' seq 9 on group world (0 bytes) not complete after 3.2 s; "
            "ranks not arrived: none (every member posted it; not complete on: 1 (node0)); reported by rank 1 (node0)");
  EXPECT_EQ(r.summary, "rank 1 (node0) reported a stall of barrier 'fence' seq 9 on group world; every member posted it");
}

TEST(StallReport, ARankThatPostedNothingYet) {
  const StalledOp op{OpKind::broadcast, "command", 1, Group::world, 64, 10.0};
  const StallReport r = make_stall_report(op, {0, 1}, {row(0, 1, "command", 1), row(1, 0, "", 1)}, "rank 0 (node0)");
  EXPECT_NE(r.line.find("ranks not arrived: 1 (node0, last at seq 0); reported"), std::string::npos) << r.line;
}

TEST(StallReport, NamesMembersSilentOnTheBoardAsUnreachable) {
  // A cut link: ranks 2 and 3 posted the op, then the board stopped hearing from them.
  const StalledOp op{OpKind::all_to_all_v, "moe.dispatch layer 0", 57, Group::ep, 96, 4.04};
  std::vector<RankState> table = {row(0, 57, "moe.dispatch layer 0", 57), row(1, 57, "moe.dispatch layer 0", 57),
                                  row(2, 57, "moe.dispatch layer 0", 57), row(3, 56, "moe.counts", 56)};
  table[1].silent_s = 0.4;  // a normal gap between heartbeats
  table[2].silent_s = 4.12;
  table[3].silent_s = 4.5;
  const StallReport r = make_stall_report(op, {0, 1, 2, 3}, table, "rank 0 (node0)");
  EXPECT_EQ(r.line,
            "switchyard: stall: all_to_all_v 'moe.dispatch layer 0' seq 57 on group ep (96 bytes) not complete after "
            "4.0 s; ranks not arrived: 3 (node1, last at seq 56 'moe.counts'); unreachable (silent on the status "
            "board): 2 (node1, 4.1 s), 3 (node1, 4.5 s); reported by rank 0 (node0)");
  EXPECT_EQ(r.summary,
            "rank 0 (node0) reported a stall of all_to_all_v 'moe.dispatch layer 0' seq 57 on group ep; ranks not "
            "arrived: 3; unreachable ranks: 2, 3");
}

TEST(StallReport, ARankCutOffFromTheBoardNamesTheMembersOnOtherHosts) {
  const StalledOp op{OpKind::all_to_all_v, "moe.combine layer 1", 60, Group::ep, 128, 4.0};
  const StallReport r = make_isolated_stall_report(op, {0, 1, 2, 3}, {"hostA", "hostA", "hostB", "hostB"}, {0, 0, 1, 1}, 1,
                                                   "rank 0 (hostA)", 4.26, "rank 3 (hostB)");
  EXPECT_EQ(r.line,
            "switchyard: stall: all_to_all_v 'moe.combine layer 1' seq 60 on group ep (128 bytes) not complete after "
            "4.0 s; the status board on rank 0 (hostA) is unreachable (silent for 4.3 s); unreachable ranks: 0 "
            "(hostA), 1 (hostA) (the members on other nodes); reported by rank 3 (hostB)");
  EXPECT_EQ(r.summary,
            "rank 3 (hostB) reported a stall of all_to_all_v 'moe.combine layer 1' seq 60 on group ep; the status "
            "board on rank 0 (hostA) is unreachable; unreachable ranks: 0, 1");
  const StallReport local = make_isolated_stall_report(op, {2, 3}, {"vm", "vm"}, {1, 1}, 1, "rank 0 (vm)", 5,
                                                       "rank 3 (hostB)");
  EXPECT_NE(local.line.find("unreachable ranks: none known (every member of the group is on this node)"),
            std::string::npos)
      << local.line;
}

}  // namespace
}  // namespace sy
