// comm/stall_report.cpp — composing the stall report from the status board's table.
#include "comm/stall_report.h"

#include <iomanip>
#include <sstream>

namespace sy {

std::string describe_op(OpKind kind, const std::string& label, int64_t seq, Group g) {
  return std::string(op_kind_name(kind)) + " '" + label + "' seq " + std::to_string(seq) + " on group " +
         group_name(g);
}

StallReport make_stall_report(const StalledOp& op, const std::vector<int>& members,
                              const std::vector<RankState>& table, const std::string& reporter) {
  std::ostringstream missing, incomplete;
  int n_missing = 0, n_incomplete = 0;
  std::string missing_ranks;
  for (int r : members) {
    const RankState* s = nullptr;
    for (const auto& row : table)
      if (row.rank == r) s = &row;
    if (!s) continue;
    if (s->entered < op.seq) {
      missing << (n_missing ? ", " : "") << r << " (" << s->host << ", last at seq " << s->entered;
      if (s->entered > 0) missing << " '" << s->entered_label << "'";
      missing << (s->connected ? "" : ", disconnected") << ")";
      if (n_missing++) missing_ranks += ", ";
      missing_ranks += std::to_string(r);
    } else if (s->pending <= op.seq) {
      incomplete << (n_incomplete++ ? ", " : "") << r << " (" << s->host << ")";
    }
  }
  const std::string what = describe_op(op.kind, op.label, op.seq, op.group);
  std::ostringstream line;
  line << "switchyard: stall: " << what << " (" << op.bytes << " bytes) not complete after " << std::fixed
       << std::setprecision(1) << op.waited_s << " s; ranks not arrived: ";
  StallReport report;
  if (n_missing) {
    line << missing.str();
    report.summary = "ranks not arrived: " + missing_ranks;
  } else {
    line << "none (every member posted it; not complete on: " << (n_incomplete ? incomplete.str() : "?") << ")";
    report.summary = "every member posted it";
  }
  std::ostringstream unreachable;
  std::string unreachable_ranks;
  for (int r : members)
    for (const auto& row : table)
      if (row.rank == r && row.connected && row.silent_s > kUnreachableAfterS) {
        unreachable << (unreachable_ranks.empty() ? "" : ", ") << r << " (" << row.host << ", " << std::fixed
                    << std::setprecision(1) << row.silent_s << " s)";
        unreachable_ranks += (unreachable_ranks.empty() ? "" : ", ") + std::to_string(r);
      }
  if (!unreachable_ranks.empty()) {
    line << "; unreachable (silent on the status board): " << unreachable.str();
    report.summary += "; unreachable ranks: " + unreachable_ranks;
  }
  line << "; reported by " << reporter;
  report.line = line.str();
  report.summary = reporter + " reported a stall of " + what + "; " + report.summary;
  return report;
}

StallReport make_isolated_stall_report(const StalledOp& op, const std::vector<int>& members,
                                       const std::vector<std::string>& hosts, const std::vector<int>& nodes,
                                       int my_node,
                                       const std::string& board, double board_silent_s, const std::string& reporter) {
  std::ostringstream others;
  std::string ranks;
  for (size_t k = 0; k < members.size(); ++k) {
    if (nodes[k] == my_node) continue;
    others << (ranks.empty() ? "" : ", ") << members[k] << " (" << hosts[k] << ")";
    ranks += (ranks.empty() ? "" : ", ") + std::to_string(members[k]);
  }
  const std::string what = describe_op(op.kind, op.label, op.seq, op.group);
  std::ostringstream line;
  line << std::fixed << std::setprecision(1) << "switchyard: stall: " << what << " (" << op.bytes
       << " bytes) not complete after " << op.waited_s << " s; the status board on " << board
       << " is unreachable (silent for " << board_silent_s << " s); unreachable ranks: ";
  if (ranks.empty()) line << "none known (every member of the group is on this node)";
  else line << others.str() << " (the members on other nodes)";
  line << "; reported by " << reporter;
  StallReport report;
  report.line = line.str();
  report.summary = reporter + " reported a stall of " + what + "; the status board on " + board +
                   " is unreachable; unreachable ranks: " + (ranks.empty() ? "none known" : ranks);
  return report;
}

}  // namespace sy
