// tests/unit/config_test.cpp — config schema: INI, overrides, every validation rule, round trip,
// presets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "launch/config_schema.h"
#include "runtime/error.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

const fs::path kRepoRoot = fs::path(__FILE__).parent_path().parent_path().parent_path();

// A valid MoE config to break one rule at a time.
const char* kBase = R"(
[model]
vocab_size = 64
d_model = 32
n_layers = 4
n_heads = 4
d_ff = 64
max_seq_len = 32
moe_layers = 1,3
[moe]
num_experts = 8
top_k = 2
[train]
seq_len = 16
)";

std::string write_temp(const std::string& name, const std::string& text) {
  fs::path p = fs::path(::testing::TempDir()) / name;
  std::ofstream(p) << text;
  return p.string();
}

// Runs `f`, expects a ConfigError with exit code 2 whose message contains every `needle`.
template <class F>
void expect_config_error(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no ConfigError; expected one mentioning " << *needles.begin();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    std::string what = e.what();
    EXPECT_EQ(what.rfind("config error: ", 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "message is one line: " << what;
    for (const auto& n : needles)
      EXPECT_NE(what.find(n), std::string::npos) << what << " lacks " << n;
  }
}

void expect_rejected(const std::vector<std::string>& overrides,
                     std::initializer_list<std::string> needles) {
  expect_config_error([&] { parse_config_text(kBase, overrides); }, needles);
}

TEST(ConfigSchema, KeysAreUniqueGroupedAndHaveHelp) {
  std::set<std::string> names;
  for (const auto& k : config_schema()) {
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_FALSE(k.help.empty()) << k.name;
    EXPECT_EQ(find_config_key(k.name), &k);
  }
  EXPECT_EQ(config_sections(), (std::vector<std::string>{"model", "moe", "train", "parallel",
                                                         "data", "ckpt", "log", "eval"}));
  EXPECT_EQ(find_config_key("model.nope"), nullptr);
  EXPECT_EQ(names.size(), 58u);  // every field of runtime/config.h; update both together
}

TEST(ConfigParse, EmptyTextGivesStructDefaultsWithResolvedDefaults) {
  Config c = parse_config_text("");
  Config expected;
  expected.model.n_kv_heads = expected.model.n_heads;
  expected.moe.d_expert = expected.model.d_ff;
  EXPECT_EQ(c, expected);
}

TEST(ConfigParse, ReadsSectionsCommentsAndEveryType) {
  std::string path = write_temp("every_type.ini", R"(# a comment
; another comment
[model]
d_model = 48   # trailing comment
n_heads = 6
n_kv_heads = 2
norm = rmsnorm
bias = false
moe_layers = 0, 1
rope_theta = 5e5
[moe]
num_experts = 4
[train]
seed = 18446744073709551615
steps = 10000000000
[data]
source = text:/tmp/x.txt
[model]
vocab_size = 300
)");
  Config c = parse_config(path);
  EXPECT_EQ(c.model.d_model, 48);
  EXPECT_EQ(c.model.n_kv_heads, 2);
  EXPECT_EQ(c.model.norm, NormKind::rmsnorm);
  EXPECT_FALSE(c.model.bias);
  EXPECT_EQ(c.model.moe_layers, (std::vector<int>{0, 1}));
  EXPECT_EQ(c.model.rope_theta, 5e5);
  EXPECT_EQ(c.model.vocab_size, 300);  // a section may be reopened
  EXPECT_EQ(c.train.seed, 18446744073709551615ull);
  EXPECT_EQ(c.train.steps, 10000000000ll);
  EXPECT_EQ(c.data.source, "text:/tmp/x.txt");
  EXPECT_EQ(c.moe.d_expert, c.model.d_ff);  // resolved
}

TEST(ConfigParse, OverridesBeatTheFileAndLaterOverridesWin) {
  std::string path =
      write_temp("overrides.ini", "[train]\nsteps = 5\nlr = 0.5\n[model]\nnorm = rmsnorm\n");
  Config c =
      parse_config(path, {"--train.steps=7", "--model.norm", "layernorm", "--train.steps=9"});
  EXPECT_EQ(c.train.steps, 9);
  EXPECT_EQ(c.model.norm, NormKind::layernorm);
  EXPECT_EQ(c.train.lr, 0.5);  // untouched by the overrides
}

TEST(ConfigParse, ExplicitZeroResolvesLikeAbsent) {
  Config c =
      parse_config_text("[model]\nn_heads = 8\nn_kv_heads = 0\nd_ff = 96\n[moe]\nd_expert = 0\n");
  EXPECT_EQ(c.model.n_kv_heads, 8);
  EXPECT_EQ(c.moe.d_expert, 96);
}

TEST(ConfigErrors, MissingFile) {
  expect_config_error([] { parse_config("/nonexistent/dir/none.ini"); },
                      {"/nonexistent/dir/none.ini"});
}

TEST(ConfigErrors, UnknownKeys) {
  std::string path = write_temp("unknown.ini", "[model]\nd_modle = 3\n");
  expect_config_error([&] { parse_config(path); }, {"unknown key", "model.d_modle", path});
  expect_config_error([] { parse_config_text("[nosuch]\nx = 1\n"); }, {"nosuch.x"});
  expect_config_error([] { parse_config_text("d_model = 1\n"); }, {"unknown key", "d_model"});
  expect_rejected({"--train.stepz=3"}, {"unknown key train.stepz (command line)"});
  // Boost would otherwise accept an unambiguous prefix of a key.
  expect_rejected({"--train.ste=3"}, {"unknown key", "train.ste"});
}

TEST(ConfigErrors, MalformedInput) {
  expect_config_error([] { parse_config_text("[model]\nd_model 4\n", {}, "ckpt config"); },
                      {"ckpt config"});
  expect_config_error([] { parse_config_text("[model]\nd_model = 4\nd_model = 5\n"); },
                      {"model.d_model", "twice"});
  expect_rejected({"train.steps=3"}, {"train.steps=3", "--section.key=value"});
}

TEST(ConfigErrors, BadValuesNameTheKey) {
  expect_rejected({"--model.d_model=abc"}, {"model.d_model = abc", "not an integer"});
  expect_rejected({"--model.d_model=4.5"}, {"model.d_model", "not an integer"});
  expect_rejected({"--model.d_model="}, {"model.d_model", "not an integer"});
  expect_rejected({"--model.d_model=99999999999"}, {"model.d_model", "out of range"});
  expect_rejected({"--train.lr=fast"}, {"train.lr", "not a number"});
  expect_rejected({"--train.lr=nan"}, {"train.lr", "finite"});
  expect_rejected({"--model.bias=maybe"}, {"model.bias", "true or false"});
  expect_rejected({"--model.norm=batchnorm"}, {"model.norm = batchnorm", "layernorm|rmsnorm"});
  expect_rejected({"--moe.router_noise=loud"}, {"moe.router_noise", "none|gumbel|jitter"});
  expect_rejected({"--train.device=tpu"}, {"train.device", "cpu|cuda"});
  expect_rejected({"--model.moe_layers=1,,2"}, {"model.moe_layers", "comma-separated"});
  expect_rejected({"--model.moe_layers=1,-2"}, {"model.moe_layers", "negative"});
  expect_rejected({"--model.moe_layers=1,"}, {"model.moe_layers", "comma-separated"});
  expect_rejected({"--train.seed=-1"}, {"train.seed", ">= 0"});
  expect_rejected({"--data.source=csv:x"}, {"data.source", "synthetic, text:PATH or shards:GLOB"});
  expect_rejected({"--data.source=text:"}, {"data.source", "no path"});
  expect_rejected({"--ckpt.resume="}, {"ckpt.resume", "auto, none"});
  expect_rejected({"--log.metrics=a#b"}, {"log.metrics", "'#'"});
}

TEST(ConfigErrors, RangesOfSingleKeys) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--train.steps=-1", "train.steps = -1 must be >= 0"},
      {"--train.micro_batch=0", "train.micro_batch = 0 must be >= 1"},
      {"--train.grad_accum=0", "train.grad_accum = 0 must be >= 1"},
      {"--train.warmup_steps=-5", "train.warmup_steps = -5 must be >= 0"},
      {"--train.lr=0", "train.lr = 0 must be > 0"},
      {"--train.lr=-1e-3", "train.lr = -1e-3 must be > 0"},
      {"--train.beta1=1", "train.beta1 = 1 must be < 1"},
      {"--train.beta2=-0.1", "train.beta2 = -0.1 must be >= 0"},
      {"--train.eps=0", "train.eps = 0 must be > 0"},
      {"--moe.capacity_factor=-0.5", "moe.capacity_factor = -0.5 must be >= 0"},
      {"--moe.shared_experts=-1", "moe.shared_experts = -1 must be >= 0"},
      {"--moe.top_k=0", "moe.top_k = 0 must be >= 1"},
      {"--parallel.ep=0", "parallel.ep = 0 must be >= 1"},
      {"--parallel.a2a_chunks=0", "parallel.a2a_chunks = 0 must be >= 1"},
      {"--model.n_heads=0", "model.n_heads = 0 must be >= 1"},
      {"--model.position_offset=-2", "model.position_offset = -2 must be >= 0"},
      {"--log.every=0", "log.every = 0 must be >= 1"},
  };
  for (const auto& [override_text, message] : cases) expect_rejected({override_text}, {message});
}

TEST(ConfigErrors, CrossKeyRules) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--model.n_heads=5"}, "model.n_heads = 5 does not divide model.d_model = 32"},
      {{"--model.n_kv_heads=3"}, "model.n_kv_heads = 3 does not divide model.n_heads = 4"},
      {{"--model.d_model=24", "--model.n_heads=8", "--model.positions=rope"},
       "model.positions = rope needs an even head size"},
      {{"--model.moe_layers=1,4"}, "model.moe_layers entry 4 is outside [0, model.n_layers = 4)"},
      {{"--model.moe_layers=1,3,1"}, "model.moe_layers lists layer 1 twice"},
      {{"--moe.num_experts=0"}, "moe.num_experts = 0 but model.moe_layers is not empty"},
      {{"--moe.top_k=9"}, "moe.top_k = 9 exceeds moe.num_experts = 8"},
      {{"--parallel.ep=3"}, "parallel.ep = 3 does not divide moe.num_experts = 8"},
      {{"--train.seq_len=33"}, "train.seq_len = 33 exceeds model.max_seq_len = 32"},
      {{"--model.position_offset=17"},
       "model.max_seq_len = 32 does not cover train.seq_len + model.position_offset = 33"},
      {{"--train.lr=1e-4", "--train.min_lr=2e-4"}, "train.min_lr = 2e-04 exceeds train.lr = 1e-04"},
      {{"--data.source=text:/x"}, "model.vocab_size = 64 is below 256"},
      {{"--ckpt.every=10"}, "ckpt.every = 10 needs ckpt.dir"},
  };
  for (const auto& [overrides, message] : cases) expect_rejected(overrides, {message});
}

TEST(ConfigErrors, RulesThatDependOnOtherKeysAllowTheValidCases) {
  // Sinusoidal and rope positions need no table, so the offset does not count against it.
  EXPECT_NO_THROW(
      parse_config_text(kBase, {"--model.positions=sinusoidal", "--model.position_offset=17"}));
  // A dense model may keep any MoE settings.
  EXPECT_NO_THROW(
      parse_config_text(kBase, {"--model.moe_layers=", "--moe.num_experts=0", "--parallel.ep=3"}));
  EXPECT_NO_THROW(
      parse_config_text(kBase, {"--moe.top_k=8", "--parallel.ep=8", "--train.device=cuda"}));
  EXPECT_NO_THROW(
      parse_config_text(kBase, {"--ckpt.every=10", "--ckpt.dir=/tmp/c", "--ckpt.resume=none"}));
}

TEST(ConfigErrors, ValidateChecksConfigsBuiltInCode) {
  Config c = parse_config_text(kBase);
  c.moe.top_k = 9;
  expect_config_error([&] { validate(c); }, {"moe.top_k = 9 exceeds moe.num_experts = 8"});
  c = parse_config_text(kBase);
  c.train.micro_batch = 0;
  expect_config_error([&] { validate(c); }, {"train.micro_batch = 0 must be >= 1"});
}

TEST(ConfigErrors, WorldSize) {
  Config c = parse_config_text(kBase, {"--parallel.ep=4"});
  EXPECT_NO_THROW(validate_world(c, 8));
  EXPECT_NO_THROW(validate_world(c, 4));
  expect_config_error([&] { validate_world(c, 6); },
                      {"parallel.ep = 4 does not divide the world size 6"});
  expect_config_error([&] { validate_world(c, 2); }, {"parallel.ep = 4"});
}

TEST(ConfigErrors, CheckOverridesWithoutAFile) {
  EXPECT_NO_THROW(check_overrides({"--data.source=text:a.txt", "--eval.max_windows=3"}));
  expect_config_error([] { check_overrides({"--eval.max_windows=-3"}); }, {"eval.max_windows"});
  expect_config_error([] { check_overrides({"--eval.windows=3"}); }, {"eval.windows"});
}

// A config whose every key differs from the default.
Config everything_changed() {
  Config c = parse_config_text(R"(
[model]
vocab_size = 300
d_model = 48
n_layers = 3
n_heads = 6
n_kv_heads = 3
d_ff = 80
max_seq_len = 40
norm = rmsnorm
activation = swiglu
positions = rope
position_offset = 1
rope_theta = 500000.5
bias = false
tie_embeddings = false
scale_embeddings = true
moe_layers = 2,0
[moe]
num_experts = 6
top_k = 3
d_expert = 24
capacity_factor = 1.25
normalize_topk = true
router_noise = jitter
jitter_eps = 0.1
aux_loss_coef = 0.02
z_loss_coef = 0.1
aux_loss_scope = global
shared_experts = 1
bias_update_rate = 0.001
[train]
steps = 7
micro_batch = 3
seq_len = 33
grad_accum = 2
lr = 0.003
min_lr = 0.0003
warmup_steps = 2
weight_decay = 0.05
beta1 = 0.8
beta2 = 0.99
eps = 1e-6
grad_clip = 0.5
seed = 99
precision = bf16
device = cuda
[parallel]
ep = 3
a2a_chunks = 4
threads = 2
bucket_mb = 12.5
stall_timeout_s = 60
a2a = hierarchical
[data]
source = shards:/data/*.bin
[ckpt]
dir = /tmp/ckpt dir
every = 5
keep = 3
resume = /tmp/ckpt dir/step-00000005
[log]
every = 2
metrics = /tmp/m.jsonl
tensorboard = /tmp/tb
[eval]
max_windows = 11
)");
  return c;
}

TEST(ConfigRoundTrip, EveryKeyDiffersFromItsDefaultInTheTestConfig) {
  Config c = everything_changed(), d;
  for (const auto& k : config_schema()) EXPECT_NE(k.get(c), k.get(d)) << k.name;
}

TEST(ConfigRoundTrip, ToIniWritesEveryKeyAndReadsBackEqual) {
  for (const Config& c : {Config{}, everything_changed(), parse_config_text(kBase)}) {
    Config resolved = c;
    resolve_defaults(resolved);
    std::string ini = to_ini(c);
    for (const auto& k : config_schema()) {
      EXPECT_NE(ini.find("[" + k.section() + "]\n"), std::string::npos) << k.section();
      EXPECT_NE(ini.find("\n" + k.key() + " ="), std::string::npos) << k.name;
    }
    EXPECT_EQ(parse_config_text(ini), resolved) << ini;
    EXPECT_EQ(to_ini(parse_config_text(ini)), ini);
  }
}

TEST(ConfigRoundTrip, ResolvedDefaultsAreWrittenOut) {
  std::string ini = to_ini(parse_config_text("[model]\nn_heads = 8\nd_ff = 96\n"));
  EXPECT_NE(ini.find("\nn_kv_heads = 8\n"), std::string::npos) << ini;
  EXPECT_NE(ini.find("\nd_expert = 96\n"), std::string::npos) << ini;
}

TEST(ConfigRoundTrip, RealsKeepEveryBit) {
  Config c;
  c.train.lr = 0.1 + 0.2;  // not the double nearest to 0.3
  c.moe.jitter_eps = 1.0 / 3.0;
  c.model.rope_theta = 1e6;
  EXPECT_EQ(parse_config_text(to_ini(c)).train.lr, c.train.lr);
  EXPECT_EQ(parse_config_text(to_ini(c)).moe.jitter_eps, c.moe.jitter_eps);
  EXPECT_EQ(parse_config_text(to_ini(c)).model.rope_theta, 1e6);
}

TEST(ConfigHelp, ListsEveryKeyWithDefaultAndChoices) {
  std::string help = config_help();
  for (const auto& k : config_schema()) {
    EXPECT_NE(help.find("--" + k.name + " "), std::string::npos) << k.name;
    for (const auto& choice : k.choices) EXPECT_NE(help.find(choice), std::string::npos) << k.name;
  }
  for (const auto& s : config_sections())
    EXPECT_NE(help.find("[" + s + "]"), std::string::npos) << s;
  EXPECT_NE(help.find("--model.norm layernorm|rmsnorm (=layernorm)"), std::string::npos) << help;
  EXPECT_NE(help.find("--train.steps int (=100)"), std::string::npos) << help;
}

TEST(ConfigPresets, EveryFileInConfigsParsesAndValidates) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kRepoRoot / "configs")) {
    if (entry.path().extension() != ".ini") continue;
    SCOPED_TRACE(entry.path().string());
    Config c;
    EXPECT_NO_THROW(c = parse_config(entry.path().string()));
    EXPECT_EQ(parse_config_text(to_ini(c)), c);
    ++count;
  }
  EXPECT_GE(count, 6);
}

TEST(ConfigPresets, SeedModelNumbers) {
  auto preset = [](const std::string& name) {
    return parse_config((kRepoRoot / "configs" / name).string());
  };
  Config tiny = preset("tiny.ini");
  EXPECT_EQ(tiny.model.vocab_size, 64);
  EXPECT_EQ(tiny.model.moe_layers, (std::vector<int>{1}));
  EXPECT_EQ(tiny.moe.num_experts, 4);

  Config fairseq = preset("fairseq-moe-15b.ini");
  EXPECT_EQ(fairseq.model.vocab_size, 50264);
  EXPECT_EQ(fairseq.model.moe_layers, (std::vector<int>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(fairseq.moe.num_experts, 512);
  EXPECT_EQ(fairseq.model.positions, Positions::sinusoidal);
  EXPECT_EQ(fairseq.model.position_offset, 2);
  EXPECT_TRUE(fairseq.model.tie_embeddings && fairseq.model.scale_embeddings && fairseq.model.bias);
  EXPECT_NO_THROW(validate_world(fairseq, 64));  // 64 rank files of 8 experts, as released

  Config mixtral = preset("mixtral-8x7b.ini");
  EXPECT_EQ(mixtral.model.n_kv_heads, 8);
  EXPECT_EQ(mixtral.model.d_head(), 128);
  EXPECT_EQ(mixtral.model.moe_layers.size(), 32u);
  EXPECT_EQ(mixtral.model.rope_theta, 1e6);
  EXPECT_EQ(mixtral.moe.d_expert, 14336);
  EXPECT_TRUE(mixtral.moe.normalize_topk);
  EXPECT_FALSE(mixtral.model.tie_embeddings || mixtral.model.bias);

  Config olmoe = preset("olmoe-1b-7b.ini");
  EXPECT_EQ(olmoe.moe.num_experts, 64);
  EXPECT_EQ(olmoe.moe.top_k, 8);
  EXPECT_EQ(olmoe.moe.d_expert, 1024);
  EXPECT_EQ(olmoe.moe.capacity_factor, 0.0);
  EXPECT_GT(olmoe.moe.z_loss_coef, 0.0);

  Config megatron = preset("megatron-moe-1.3b.ini");
  EXPECT_EQ(megatron.model.moe_layers, (std::vector<int>{2, 4, 6, 8}));
  EXPECT_EQ(megatron.model.n_layers, 12);
  EXPECT_EQ(megatron.model.d_model, 2048);
  EXPECT_EQ(megatron.train.precision, Precision::bf16);
}

}  // namespace
}  // namespace sy
