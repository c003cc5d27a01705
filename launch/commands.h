// launch/commands.h — the subcommand handlers main() hands to the CLI.
#pragma once
#include "launch/cli.h"

namespace sy {

int train_command(const CliCommand& cmd);
int eval_command(const CliCommand& cmd);
int generate_command(const CliCommand& cmd);
int plan_command(const CliCommand& cmd);
// `switchyard ckpt ls|show|verify|diff|reshard` (launch/ckpt_command.cpp).
int ckpt_command(const CliCommand& cmd);

}  // namespace sy
