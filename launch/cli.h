// launch/cli.h — the git-style command line (DESIGN.md §6): parsing into CliCommand, help, and
// top-level mapping of errors to exit codes.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "runtime/error.h"

namespace sy {

enum class Subcommand { none, train, eval, generate, ckpt, plan };
enum class CkptAction { none, ls, show, verify, diff, reshard };

// Bad command-line usage (unknown option, missing argument): exit code 2 like a config error.
struct UsageError : Error {
  explicit UsageError(const std::string& what) : Error(ExitCode::usage, what) {}
};

// Everything the command line said.  Fields not used by a subcommand keep their defaults.
struct CliCommand {
  Subcommand command = Subcommand::none;
  bool help = false;  // --help / -h / `help [cmd]`: print help, run nothing

  // train, plan: --config FILE.  train, plan, eval: the --section.key=value overrides in
  // command-line order, each normalised to "--section.key=value".
  std::string config_path;
  std::vector<std::string> overrides;
  // train, plan: config_path + overrides, defaults resolved and validated (plan also against
  // --world-size).  Other subcommands leave it default: eval/generate take the config stored
  // in the checkpoint (apply `overrides` with parse_config_text).
  Config config;

  std::string ckpt;    // eval, generate: --ckpt CKPT (a checkpoint or a dir holding `latest`)
  std::string prompt;  // generate: --prompt TEXT
  int tokens = 64;     // generate: --tokens N (>= 1)
  double temperature = 0;  // generate: --temperature T (0 = greedy)
  double top_p = 1;        // generate: --top-p P, nucleus mass in (0, 1]
  int seed = 0;            // generate: --seed N
  int world_size = 0;  // plan: --world-size N (>= 1)
  double memory_per_rank_gib = 0;  // plan: --memory-per-rank GiB; 0 = not given
  bool json = false;               // plan, ckpt: --json

  // ckpt: the action and its operands — ls DIR | show CKPT | verify CKPT | diff A B |
  // reshard SRC DST
  CkptAction ckpt_action = CkptAction::none;
  std::vector<std::string> paths;
  std::string tensor;  // ckpt show --tensor NAME; empty = all
  int reshard_ep = 0;  // ckpt reshard --ep N (>= 1)
};

// One handler per subcommand; its return value is the exit code.  An empty handler means the
// subcommand is not available in this build (exit 2).
struct CliHandlers {
  std::function<int(const CliCommand&)> train, eval, generate, ckpt, plan;
};

// Parses the arguments after the program name.  Throws UsageError for bad usage and
// ConfigError for a bad config (both exit code 2).
CliCommand parse_cli(const std::vector<std::string>& args);

// The whole front end: parse, print help or run the handler, and turn every sy::Error into
// one line "switchyard: <message>" on `err` and its exit code.  Bad usage → 2; any other
// exception → "switchyard: internal error: ..." and 1.
int run_cli(const std::vector<std::string>& args, const CliHandlers& handlers, std::ostream& out,
            std::ostream& err);
int run_cli(int argc, char** argv, const CliHandlers& handlers);  // std::cout / std::cerr

// `switchyard --help`: the subcommands and their synopses.
std::string cli_usage();
// `switchyard <cmd> --help`; for train it lists every config key by section with defaults and
// allowed values (generated from the schema).
std::string command_help(Subcommand command);
const char* subcommand_name(Subcommand command);

}  // namespace sy
