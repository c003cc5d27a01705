// launch/plan_command.cpp — `switchyard plan`: size a run before booking hardware.
#include <cstdio>

#include "launch/commands.h"
#include "launch/plan.h"

namespace sy {

int plan_command(const CliCommand& cmd) {
  const RunPlan p = make_plan(cmd.config, cmd.world_size);
  if (cmd.json)
    std::printf("%s\n", plan_json(p, cmd.memory_per_rank_gib).c_str());
  else
    std::fputs(plan_text(p, cmd.config, cmd.memory_per_rank_gib).c_str(), stdout);
  return 0;
}

}  // namespace sy
