// launch/main.cpp — the switchyard binary: the CLI front end with one handler per subcommand.
#include <cstdio>

#include "launch/cli.h"

namespace {

// Placeholder until the subcommands are wired: says so and exits with the usage code.
int not_implemented(const sy::CliCommand& cmd) {
  std::fprintf(stderr, "switchyard: %s is not implemented yet\n", sy::subcommand_name(cmd.command));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  sy::CliHandlers handlers;
  handlers.train = not_implemented;
  handlers.eval = not_implemented;
  handlers.generate = not_implemented;
  handlers.ckpt = not_implemented;
  handlers.plan = not_implemented;
  return sy::run_cli(argc, argv, handlers);
}
