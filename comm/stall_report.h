// comm/stall_report.h — the text of a stall report: which op, how long, which ranks never arrived (pure, no MPI).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/status_board.h"
#include "comm/transport.h"

namespace sy {

// "all_reduce 'grad bucket 5' seq 5 on group world"
std::string describe_op(OpKind kind, const std::string& label, int64_t seq, Group g);

struct StalledOp {
  OpKind kind = OpKind::barrier;
  std::string label;
  int64_t seq = 0;
  Group group = Group::world;
  int64_t bytes = 0;
  double waited_s = 0;
};

struct StallReport {
  std::string line;     // the one report, printed by the rank that detected the stall
  std::string summary;  // short form for the abort notice every rank prints
};

// `members`: world ranks of the op's group; `table`: the status board's rows;
// `reporter`: "rank 2 (host)".  A member is "not arrived" if it never posted the
// op; if all did, the report names the members that have not completed it.
// Example:
//   switchyard: stall: all_reduce 'grad bucket 5' seq 5 on group world (8 bytes) not complete
//   after 1.5 s; ranks not arrived: 1 (vm, last at seq 4 'dispatch 4'); reported by rank 2 (vm)
// Members the board has not heard from for kUnreachableAfterS (a cut link, a
// host down) are added: "; unreachable (silent on the status board): 2 (vm2, 4.1 s)".
StallReport make_stall_report(const StalledOp& op, const std::vector<int>& members,
                              const std::vector<RankState>& table, const std::string& reporter);

// The stall report of a rank that cannot reach the status board itself (its
// host's link is cut, or the board's): it names the op and, as unreachable, the
// members on other nodes than `my_node` — with the board silent, this rank has
// no news of them either.  `hosts` and `nodes` hold each member's host name and
// node index (nodes, not names, decide: network namespaces share one host
// name); `board` is "rank 0 (vm1)".
// Example:
//   switchyard: stall: all_to_all_v 'moe.dispatch' seq 57 on group ep (96 bytes) not complete after 4.0 s;
//   the status board on rank 0 (vm1) is unreachable (silent for 4.3 s); unreachable ranks: 0 (vm1), 1 (vm1)
//   (the members on other nodes); reported by rank 2 (vm2)
StallReport make_isolated_stall_report(const StalledOp& op, const std::vector<int>& members,
                                       const std::vector<std::string>& hosts, const std::vector<int>& nodes,
                                       int my_node,
                                       const std::string& board, double board_silent_s, const std::string& reporter);

}  // namespace sy
