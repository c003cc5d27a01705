// tests/unit/cli_test.cpp — the subcommand front end: parsing, help, dispatch and exit codes.
#include "launch/cli.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "launch/config_schema.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

const std::string kTiny =
    (fs::path(__FILE__).parent_path().parent_path().parent_path() / "configs" / "tiny.ini")
        .string();

// Runs the CLI with handlers that record the command they get and return `rc`.
struct CliRun {
  int code = -1;
  std::string out, err;
  CliCommand seen;
  int calls = 0;
};

CliRun run(const std::vector<std::string>& args, int rc = 0) {
  CliRun r;
  CliHandlers h;
  auto record = [&r, rc](const CliCommand& c) {
    r.seen = c;
    ++r.calls;
    return rc;
  };
  h.train = h.eval = h.generate = h.ckpt = h.plan = record;
  std::ostringstream out, err;
  r.code = run_cli(args, h, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Cli, TrainParsesConfigAndOverrides) {
  CliRun r = run({"train", "--config", kTiny, "--train.steps=3", "--model.norm", "rmsnorm"}, 0);
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.calls, 1);
  EXPECT_EQ(r.seen.command, Subcommand::train);
  EXPECT_EQ(r.seen.config_path, kTiny);
  EXPECT_EQ(r.seen.overrides,
            (std::vector<std::string>{"--train.steps=3", "--model.norm=rmsnorm"}));
  EXPECT_EQ(r.seen.config.train.steps, 3);  // the override beats tiny.ini's steps = 4
  EXPECT_EQ(r.seen.config.model.norm, NormKind::rmsnorm);
  EXPECT_EQ(r.seen.config.model.vocab_size, 64);
}

TEST(Cli, HandlerReturnValueIsTheExitCode) {
  EXPECT_EQ(run({"train", "--config=" + kTiny}, 0).code, 0);
  EXPECT_EQ(run({"train", "--config=" + kTiny}, 7).code, 7);
}

TEST(Cli, ErrorsBecomeOneLineAndTheirExitCode) {
  CliHandlers h;
  std::ostringstream out, err;
  h.train = [](const CliCommand&) -> int { throw DataError("bad shard data/x.bin"); };
  h.eval = [](const CliCommand&) -> int { throw NumericalError("loss is nan at step 3"); };
  h.plan = [](const CliCommand&) -> int { throw CommError("all-to-all #12 stalled"); };
  EXPECT_EQ(run_cli({"train", "--config", kTiny}, h, out, err), 3);
  EXPECT_EQ(err.str(), "switchyard: bad shard data/x.bin\n");
  err.str("");
  EXPECT_EQ(run_cli({"eval", "--ckpt", "c"}, h, out, err), 4);
  EXPECT_EQ(run_cli({"plan", "--config", kTiny, "--world-size", "2"}, h, out, err), 5);
  EXPECT_EQ(run_cli({"generate", "--ckpt", "c", "--prompt", "x"}, h, out, err), 2);  // no handler
  EXPECT_TRUE(contains(err.str(), "generate is not available"));
  h.ckpt = [](const CliCommand&) -> int { throw std::runtime_error("boom"); };
  err.str("");
  EXPECT_EQ(run_cli({"ckpt", "ls", "d"}, h, out, err), 1);
  EXPECT_EQ(err.str(), "switchyard: internal error: boom\n");
}

TEST(Cli, ConfigErrorsExitTwoAndNameTheKey) {
  CliRun r = run({"train", "--config", kTiny, "--moe.top_k=9"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.calls, 0);
  EXPECT_EQ(r.err, "switchyard: config error: moe.top_k = 9 exceeds moe.num_experts = 4\n");
  r = run({"train", "--config", kTiny, "--model.d_modle=3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "unknown config key model.d_modle (see")) << r.err;
  r = run({"generate", "--ckpt", "c", "--prompt", "x", "--train.steps=3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "generate: takes no config keys, got --train.steps")) << r.err;
  r = run(
      {"train", "--config", kTiny, "--log.metrics=", "--model.moe_layers=", "--moe.num_experts=0"});
  EXPECT_EQ(r.code, 0) << r.err;  // an empty value clears a key
  EXPECT_TRUE(r.seen.config.model.moe_layers.empty());
  EXPECT_EQ(r.seen.overrides[1], "--model.moe_layers=");
  r = run({"train", "--config", "/nonexistent.ini"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "/nonexistent.ini")) << r.err;
}

TEST(Cli, BadUsageExitsTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                           // no command
      {"fly"},                                      // unknown command
      {"train"},                                    // --config missing
      {"train", "--config", kTiny, "extra"},        // stray argument
      {"train", "--config", kTiny, "--conf", "x"},  // no prefix guessing
      {"train", "--config", kTiny, "--config", kTiny},
      {"plan", "--config", kTiny},  // --world-size missing
      {"plan", "--config", kTiny, "--world-size", "two"},
      {"plan", "--config", kTiny, "--world-size", "0"},
      {"eval"},  // --ckpt missing
      {"eval", "--ckpt", "c", "--eval.max_windows=-1"},
      {"generate", "--ckpt", "c"},  // --prompt missing
      {"generate", "--ckpt", "c", "--prompt", "hi", "--tokens", "0"},
      {"generate", "--ckpt", "c", "--prompt", "hi", "--train.steps=3"},  // no config keys here
      {"ckpt"},
      {"ckpt", "rm", "d"},
      {"ckpt", "diff", "a"},
      {"ckpt", "reshard", "a", "b"},  // --ep missing
      {"ckpt", "ls", "d", "--ep", "2"},
      {"ckpt", "verify", "c", "--tensor", "x"},
  };
  for (const auto& args : cases) {
    CliRun r = run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    EXPECT_EQ(r.calls, 0) << joined;
    EXPECT_FALSE(r.err.empty()) << joined;
  }
}

TEST(Cli, PlanChecksTheWorldSize) {
  CliRun r = run({"plan", "--config", kTiny, "--world-size", "4", "--parallel.ep=4", "--json",
                  "--memory-per-rank", "1.5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.seen.world_size, 4);
  EXPECT_EQ(r.seen.config.parallel.ep, 4);
  EXPECT_TRUE(r.seen.json);
  EXPECT_EQ(r.seen.memory_per_rank_gib, 1.5);
  r = run({"plan", "--config", kTiny, "--world-size", "6", "--parallel.ep=4"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "switchyard: config error: parallel.ep = 4 does not divide the world size 6\n");
}

TEST(Cli, EvalAndGenerate) {
  CliRun r =
      run({"eval", "--ckpt", "runs/a", "--data.source=text:val.txt", "--eval.max_windows", "5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.seen.command, Subcommand::eval);
  EXPECT_EQ(r.seen.ckpt, "runs/a");
  EXPECT_EQ(r.seen.overrides,
            (std::vector<std::string>{"--data.source=text:val.txt", "--eval.max_windows=5"}));

  r = run({"generate", "--ckpt", "runs/a/step-00000010", "--prompt", "Once upon", "--tokens=12"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.seen.command, Subcommand::generate);
  EXPECT_EQ(r.seen.prompt, "Once upon");
  EXPECT_EQ(r.seen.tokens, 12);
  EXPECT_EQ(run({"generate", "--ckpt", "c", "--prompt", "x"}).seen.tokens, 64);
}

TEST(Cli, CkptActions) {
  CliRun r = run({"ckpt", "ls", "runs/a"});
  EXPECT_EQ(r.seen.ckpt_action, CkptAction::ls);
  EXPECT_EQ(r.seen.paths, (std::vector<std::string>{"runs/a"}));
  r = run({"ckpt", "show", "runs/a", "--tensor", "decoder/embed_tokens/weight", "--json"});
  EXPECT_EQ(r.seen.ckpt_action, CkptAction::show);
  EXPECT_EQ(r.seen.tensor, "decoder/embed_tokens/weight");
  EXPECT_TRUE(r.seen.json);
  r = run({"ckpt", "verify", "runs/a/step-00000002"});
  EXPECT_EQ(r.seen.ckpt_action, CkptAction::verify);
  r = run({"ckpt", "diff", "a", "b"});
  EXPECT_EQ(r.seen.ckpt_action, CkptAction::diff);
  EXPECT_EQ(r.seen.paths, (std::vector<std::string>{"a", "b"}));
  r = run({"ckpt", "reshard", "src", "--ep", "4", "dst"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.seen.ckpt_action, CkptAction::reshard);
  EXPECT_EQ(r.seen.paths, (std::vector<std::string>{"src", "dst"}));
  EXPECT_EQ(r.seen.reshard_ep, 4);
}

TEST(CliHelp, GlobalHelpListsEveryCommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}}) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.calls, 0);
    for (const char* c : {"train", "eval", "generate", "ckpt", "plan"})
      EXPECT_TRUE(contains(r.out, std::string("switchyard ") + c)) << c;
    EXPECT_TRUE(contains(r.out, "Exit codes"));
  }
  CliRun none = run({});
  EXPECT_EQ(none.code, 2);
  EXPECT_TRUE(contains(none.err, "switchyard train"));
}

TEST(CliHelp, TrainHelpListsEveryConfigKey) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"train", "--help"}, {"help", "train"}, {"train", "--config", "/missing.ini", "-h"}}) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.calls, 0);
    EXPECT_TRUE(contains(r.out, "--config FILE"));
    for (const auto& k : config_schema()) {
      EXPECT_TRUE(contains(r.out, "--" + k.name + " ")) << k.name;
      std::string def = k.default_text();
      EXPECT_TRUE(contains(r.out, "(=" + (def.empty() ? std::string("\"\"") : def) + ")"))
          << k.name;
      for (const auto& choice : k.choices) EXPECT_TRUE(contains(r.out, choice)) << k.name;
    }
    for (const auto& s : config_sections()) EXPECT_TRUE(contains(r.out, "[" + s + "]")) << s;
  }
}

TEST(CliHelp, EachCommandHasHelp) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"plan", {"--world-size", "--memory-per-rank", "--json", "--config"}},
      {"eval", {"--ckpt", "loss=<float> tokens=<int>"}},
      {"generate", {"--ckpt", "--prompt", "--tokens"}},
      {"ckpt",
       {"ls DIR", "show CKPT", "verify CKPT", "diff A B", "reshard SRC DST --ep N", "--tensor"}},
  };
  for (const auto& [cmd, parts] : expected) {
    CliRun r = run({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    for (const auto& p : parts) EXPECT_TRUE(contains(r.out, p)) << cmd << " help lacks " << p;
  }
}

}  // namespace
}  // namespace sy
