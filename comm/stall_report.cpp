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
  line << "; reported by " << reporter;
  report.line = line.str();
  report.summary = reporter + " reported a stall of " + what + "; " + report.summary;
  return report;
}

}  // namespace sy
