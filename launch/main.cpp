// launch/main.cpp — the switchyard binary: the CLI front end with one handler per subcommand.
#include "launch/cli.h"
#include "launch/commands.h"

int main(int argc, char** argv) {
  sy::CliHandlers handlers;
  handlers.train = sy::train_command;
  handlers.eval = sy::eval_command;
  handlers.generate = sy::generate_command;
  handlers.plan = sy::plan_command;
  handlers.ckpt = sy::ckpt_command;
  return sy::run_cli(argc, argv, handlers);
}
