// launch/cli.cpp — git-style subcommands parsed with Boost.Program_options, help text, and the
// top-level catch that turns errors into one line and an exit code.
#include "launch/cli.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <cmath>
#include <iostream>
#include <sstream>

#include "launch/config_schema.h"

namespace po = boost::program_options;

namespace sy {
namespace {

struct CommandSpec {
  Subcommand command;
  const char* name;
  const char* synopsis;
  const char* brief;    // one line in the overview
  const char* summary;  // the paragraph of the command's own help
};

const CommandSpec kCommands[] = {
    {Subcommand::train, "train", "switchyard train    --config FILE [--section.key=value ...]",
     "train a model",
     "Train a model; the config keys below can be set in FILE or overridden here."},
    {Subcommand::plan, "plan",
     "switchyard plan     --config FILE --world-size N [--parallel.ep=N] [--memory-per-rank GiB] "
     "[--json]",
     "size a run: parameters, memory per rank, bytes per step",
     "Size a run before booking hardware: parameters (total and active per token), memory per\n"
     "rank and bytes moved per step."},
    {Subcommand::eval, "eval",
     "switchyard eval     --ckpt CKPT [--data.source=SRC] [--section.key=value ...]",
     "cross-entropy of a checkpoint on a source",
     "Mean cross-entropy of a checkpoint over windows of the source (the checkpoint's config\n"
     "with the overrides applied); the last line is loss=<float> tokens=<int>."},
    {Subcommand::ckpt, "ckpt",
     "switchyard ckpt     ls DIR | show CKPT [--tensor NAME] | verify CKPT | diff A B | reshard "
     "SRC DST --ep N",
     "list, inspect, verify, diff and reshard checkpoints",
     "List, inspect, verify, compare and reshard checkpoints."},
    {Subcommand::generate, "generate", "switchyard generate --ckpt CKPT --prompt TEXT [--tokens N] [--temperature T] [--top-p P] [--seed N]",
     "continue a prompt", "Continue a prompt with a trained checkpoint."},
};

const CommandSpec& spec(Subcommand c) {
  for (const auto& s : kCommands)
    if (s.command == c) return s;
  throw UsageError("no such command");
}

[[noreturn]] void usage_error(Subcommand c, const std::string& message) {
  std::string name = spec(c).name;
  throw UsageError(name + ": " + message + " (see switchyard " + name + " --help)");
}

int parse_int(Subcommand c, const std::string& option, const std::string& text, int min) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    usage_error(c, option + " = " + text + " is not an integer");
  if (v < min) usage_error(c, option + " = " + text + " must be >= " + std::to_string(min));
  return v;
}

double parse_positive(Subcommand c, const std::string& option, const std::string& text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
    usage_error(c, option + " = " + text + " is not a number");
  if (!(v > 0)) usage_error(c, option + " = " + text + " must be > 0");
  return v;
}

double parse_real_in(Subcommand c, const std::string& option, const std::string& text, double lo, double hi) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
    usage_error(c, option + " = " + text + " is not a number");
  if (v < lo || v > hi) usage_error(c, option + " = " + text + " is out of range");
  return v;
}

// The options a subcommand shows in its help; config keys are added only for parsing.
po::options_description own_options(Subcommand c) {
  po::options_description d("Options", 100, 50);
  d.add_options()("help,h", po::bool_switch(), "show this help");
  switch (c) {
    case Subcommand::train:
      d.add_options()("config", po::value<std::string>()->value_name("FILE"),
                      "INI config file (required)");
      break;
    case Subcommand::plan:
      d.add_options()("config", po::value<std::string>()->value_name("FILE"),
                      "INI config file (required)")("world-size",
                                                    po::value<std::string>()->value_name("N"),
                                                    "ranks of the planned run (required)")(
          "memory-per-rank", po::value<std::string>()->value_name("GiB"),
          "memory available per rank, to check the plan fits")("json", po::bool_switch(),
                                                               "print the plan as JSON");
      break;
    case Subcommand::eval:
      d.add_options()("ckpt", po::value<std::string>()->value_name("CKPT"),
                      "checkpoint, or a directory holding `latest` (required)");
      break;
    case Subcommand::generate:
      d.add_options()("ckpt", po::value<std::string>()->value_name("CKPT"),
                      "checkpoint, or a directory holding `latest` (required)")(
          "prompt", po::value<std::string>()->value_name("TEXT"), "text to continue (required)")(
          "tokens", po::value<std::string>()->value_name("N"), "tokens to generate [64]")(
          "temperature", po::value<std::string>()->value_name("T"), "sampling temperature; 0 = greedy [0]")(
          "top-p", po::value<std::string>()->value_name("P"), "nucleus sampling mass in (0, 1] [1]")(
          "seed", po::value<std::string>()->value_name("N"), "sampling seed [0]");
      break;
    case Subcommand::ckpt:
      d.add_options()("tensor", po::value<std::string>()->value_name("NAME"),
                      "show: only this dataset, e.g. decoder/embed_tokens/weight")(
          "ep", po::value<std::string>()->value_name("N"),
          "reshard: expert-parallel size to write")("json", po::bool_switch(),
                                                    "machine-readable output");
      break;
    case Subcommand::none:
      break;
  }
  return d;
}

bool takes_config_keys(Subcommand c) {
  return c == Subcommand::train || c == Subcommand::plan || c == Subcommand::eval;
}

Subcommand find_command(const std::string& name) {
  for (const auto& s : kCommands)
    if (name == s.name) return s.command;
  throw UsageError("unknown command '" + name + "' (see switchyard --help)");
}

void parse_ckpt_operands(CliCommand& cmd, const std::vector<std::string>& operands) {
  const Subcommand c = Subcommand::ckpt;
  if (operands.empty()) usage_error(c, "missing action: ls, show, verify, diff or reshard");
  struct Action {
    const char* name;
    CkptAction action;
    size_t operands;
    const char* shape;
  };
  static const Action actions[] = {{"ls", CkptAction::ls, 1, "ls DIR"},
                                   {"show", CkptAction::show, 1, "show CKPT"},
                                   {"verify", CkptAction::verify, 1, "verify CKPT"},
                                   {"diff", CkptAction::diff, 2, "diff A B"},
                                   {"reshard", CkptAction::reshard, 2, "reshard SRC DST --ep N"}};
  const Action* found = nullptr;
  for (const auto& a : actions)
    if (operands[0] == a.name) found = &a;
  if (!found) usage_error(c, "unknown action '" + operands[0] + "'");
  cmd.ckpt_action = found->action;
  cmd.paths.assign(operands.begin() + 1, operands.end());
  if (cmd.paths.size() != found->operands)
    usage_error(c, std::string("expected ") + found->shape + ", got " +
                       std::to_string(cmd.paths.size()) + " operand(s)");
  if (!cmd.tensor.empty() && cmd.ckpt_action != CkptAction::show)
    usage_error(c, "--tensor applies to show only");
  if (cmd.ckpt_action == CkptAction::reshard && cmd.reshard_ep == 0)
    usage_error(c, "reshard needs --ep N");
  if (cmd.ckpt_action != CkptAction::reshard && cmd.reshard_ep != 0)
    usage_error(c, "--ep applies to reshard only");
}

// Parses the arguments after the subcommand name into `cmd` (help already handled).
void parse_command_args(CliCommand& cmd, const std::vector<std::string>& args) {
  const Subcommand c = cmd.command;
  po::options_description desc = own_options(c);
  if (takes_config_keys(c)) desc.add(config_options_description());
  desc.add_options()("operand", po::value<std::vector<std::string>>(), "");
  po::positional_options_description positional;
  if (c == Subcommand::ckpt) positional.add("operand", -1);

  po::parsed_options parsed(nullptr);
  try {
    parsed =
        po::command_line_parser(expand_empty_values(args))
            .options(desc)
            .positional(positional)
            .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
            .run();
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();  // "--model.foo=3" keeps its value; drop it
    name = name.substr(0, name.find('='));
    if (name.find('.') == std::string::npos) usage_error(c, "unknown option " + name);
    if (!takes_config_keys(c)) usage_error(c, "takes no config keys, got " + name);
    usage_error(c, "unknown config key " + name.substr(2));
  } catch (const po::too_many_positional_options_error&) {
    usage_error(c, "unexpected argument; options are written --name VALUE or --name=VALUE");
  } catch (const po::error& e) {
    usage_error(c, e.what());
  }

  std::vector<std::string> operands;
  std::vector<std::string> seen;
  for (const auto& opt : parsed.options) {
    const std::string& key = opt.string_key;
    const std::string value = opt.value.empty() ? "" : opt.value.front();
    if (key == "operand") {
      // Boost also routes "--operand x" here; only true positionals are operands.
      if (opt.position_key < 0) usage_error(c, "unknown option --operand");
      operands.push_back(value);
      continue;
    }
    if (find_config_key(key)) {
      cmd.overrides.push_back("--" + key + "=" + value);
      continue;
    }
    for (const auto& s : seen)
      if (s == key) usage_error(c, "--" + key + " given twice");
    seen.push_back(key);
    if (key == "config")
      cmd.config_path = value;
    else if (key == "ckpt")
      cmd.ckpt = value;
    else if (key == "prompt")
      cmd.prompt = value;
    else if (key == "tensor")
      cmd.tensor = value;
    else if (key == "tokens")
      cmd.tokens = parse_int(c, "--tokens", value, 1);
    else if (key == "temperature")
      cmd.temperature = parse_real_in(c, "--temperature", value, 0.0, 1e6);
    else if (key == "top-p")
      cmd.top_p = parse_real_in(c, "--top-p", value, 1e-9, 1.0);
    else if (key == "seed")
      cmd.seed = parse_int(c, "--seed", value, 0);
    else if (key == "world-size")
      cmd.world_size = parse_int(c, "--world-size", value, 1);
    else if (key == "ep")
      cmd.reshard_ep = parse_int(c, "--ep", value, 1);
    else if (key == "memory-per-rank")
      cmd.memory_per_rank_gib = parse_positive(c, "--memory-per-rank", value);
    else if (key == "json")
      cmd.json = true;
  }

  switch (c) {
    case Subcommand::train:
    case Subcommand::plan:
      if (cmd.config_path.empty()) usage_error(c, "--config FILE is required");
      if (c == Subcommand::plan && cmd.world_size == 0)
        usage_error(c, "--world-size N is required");
      cmd.config = parse_config(cmd.config_path, cmd.overrides);
      if (c == Subcommand::plan) validate_world(cmd.config, cmd.world_size);
      break;
    case Subcommand::eval:
      if (cmd.ckpt.empty()) usage_error(c, "--ckpt CKPT is required");
      check_overrides(cmd.overrides);  // bad keys/values fail now, not after loading the checkpoint
      break;
    case Subcommand::generate:
      if (cmd.ckpt.empty()) usage_error(c, "--ckpt CKPT is required");
      if (cmd.prompt.empty()) usage_error(c, "--prompt TEXT is required");
      break;
    case Subcommand::ckpt:
      parse_ckpt_operands(cmd, operands);
      break;
    case Subcommand::none:
      break;
  }
}

const std::function<int(const CliCommand&)>& handler_for(const CliHandlers& h, Subcommand c) {
  switch (c) {
    case Subcommand::train:
      return h.train;
    case Subcommand::eval:
      return h.eval;
    case Subcommand::generate:
      return h.generate;
    case Subcommand::ckpt:
      return h.ckpt;
    case Subcommand::plan:
      return h.plan;
    case Subcommand::none:
      break;
  }
  throw UsageError("no command given (see switchyard --help)");
}

bool is_help(const std::string& a) { return a == "--help" || a == "-h"; }

}  // namespace

const char* subcommand_name(Subcommand command) {
  return command == Subcommand::none ? "" : spec(command).name;
}

CliCommand parse_cli(const std::vector<std::string>& args) {
  CliCommand cmd;
  if (args.empty()) return cmd;
  if (is_help(args[0]) || args[0] == "help") {
    cmd.help = true;
    if (args[0] == "help" && args.size() > 1) cmd.command = find_command(args[1]);
    return cmd;
  }
  cmd.command = find_command(args[0]);
  std::vector<std::string> rest(args.begin() + 1, args.end());
  // --help wins over everything else, even arguments that would not parse.
  for (const auto& a : rest)
    if (is_help(a)) {
      cmd.help = true;
      return cmd;
    }
  parse_command_args(cmd, rest);
  return cmd;
}

std::string cli_usage() {
  std::ostringstream os;
  os << "switchyard — trains Mixture-of-Experts language models across MPI ranks.\n\nUsage:\n";
  for (const auto& s : kCommands) os << "  " << s.synopsis << "\n";
  os << "\nCommands:\n";
  for (const auto& s : kCommands)
    os << "  " << s.name << std::string(10 - std::string(s.name).size(), ' ') << s.brief << "\n";
  os << "\n`switchyard <command> --help` shows a command's options; `switchyard train --help` "
        "lists\n"
        "every config key with its default and allowed values.\n"
        "CKPT is one checkpoint (.../step-00000200) or a checkpoint directory holding `latest`.\n"
        "\nExit codes: 0 done, 2 usage or config error, 3 data or checkpoint error, 4 numerical\n"
        "failure, 5 communication failure or stall.\n";
  return os.str();
}

std::string command_help(Subcommand command) {
  if (command == Subcommand::none) return cli_usage();
  const CommandSpec& s = spec(command);
  std::ostringstream os;
  os << "Usage: " << s.synopsis << "\n\n" << s.summary << "\n\n" << own_options(command) << "\n";
  if (command == Subcommand::train) {
    os << config_help();
  } else if (takes_config_keys(command)) {
    os << "Any config key can be given as --section.key=value; `switchyard train --help` lists "
          "them.\n";
  }
  return os.str();
}

int run_cli(const std::vector<std::string>& args, const CliHandlers& handlers, std::ostream& out,
            std::ostream& err) {
  try {
    CliCommand cmd = parse_cli(args);
    if (cmd.help) {
      out << command_help(cmd.command);
      return 0;
    }
    if (cmd.command == Subcommand::none) {
      err << cli_usage();
      return static_cast<int>(ExitCode::usage);
    }
    const auto& handler = handler_for(handlers, cmd.command);
    if (!handler)
      throw UsageError(std::string(subcommand_name(cmd.command)) +
                       " is not available in this build");
    return handler(cmd);
  } catch (const Error& e) {
    err << "switchyard: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const po::error& e) {
    err << "switchyard: " << e.what() << "\n";
    return static_cast<int>(ExitCode::usage);
  } catch (const std::exception& e) {
    err << "switchyard: internal error: " << e.what() << "\n";
    return 1;
  }
}

int run_cli(int argc, char** argv, const CliHandlers& handlers) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return run_cli(args, handlers, std::cout, std::cerr);
}

}  // namespace sy
