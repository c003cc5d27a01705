// tests/unit/resume_test.cpp — save → load gives identical parameters, and a resumed run continues bitwise.
#include <gtest/gtest.h>

#include <filesystem>

#include "launch/checkpointing.h"
#include "launch/config_schema.h"
#include "comm/local_collectives.h"
#include "launch/trainer.h"

namespace sy {
namespace {

Collectives& local_comm() {
  static LocalCollectives comm;
  return comm;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/sy-resume-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

Config config(const std::filesystem::path& dir, std::vector<std::string> extra = {}) {
  const std::string ini =
      "[model]\nvocab_size = 32\nd_model = 16\nn_layers = 2\nn_heads = 2\nd_ff = 32\nmax_seq_len = 16\n"
      "moe_layers = 0,1\n[moe]\nnum_experts = 4\ntop_k = 2\ncapacity_factor = 1.0\nshared_experts = 1\n"
      "router_noise = gumbel\nbias_update_rate = 0.01\n"
      "[train]\nsteps = 6\nmicro_batch = 2\nseq_len = 8\ngrad_accum = 2\nlr = 3e-3\nwarmup_steps = 2\n";
  extra.push_back("--ckpt.dir=" + dir.string());
  return parse_config_text(ini, extra);
}

TEST(Checkpoint, SaveThenLoadGivesBitwiseIdenticalParameters) {
  TempDir tmp;
  Trainer a(config(tmp.path), local_comm());
  a.train_step();
  a.train_step();
  const auto path = a.save();
  Trainer b(config(tmp.path, {"--ckpt.resume=none"}), local_comm());
  CheckpointReader reader(path);
  load_parameters(reader, b.model().params());
  load_moments(reader, b.optimizer());
  auto pa = a.model().params().begin();
  for (auto& p : b.model().params()) {
    ASSERT_EQ(p.name, pa->name);
    EXPECT_EQ(0, std::memcmp(p.value.data(), pa->value.data(), sizeof(float) * p.value.numel())) << p.name;
    ++pa;
  }
  for (size_t i = 0; i < a.optimizer().moments().size(); ++i) {
    const auto& ma = a.optimizer().moments()[i];
    const auto& mb = b.optimizer().moments()[i];
    EXPECT_EQ(0, std::memcmp(ma.exp_avg.data(), mb.exp_avg.data(), sizeof(float) * ma.exp_avg.numel()));
    EXPECT_EQ(0, std::memcmp(ma.exp_avg_sq.data(), mb.exp_avg_sq.data(), sizeof(float) * ma.exp_avg.numel()));
  }
}

TEST(Checkpoint, ResumedRunRepeatsTheUninterruptedLossesBitwise) {
  // Noise, drops, loss-free bias and grad accumulation are all on: everything that
  // carries state across steps must come back from the checkpoint.
  TempDir straight_dir, split_dir;
  Trainer straight(config(straight_dir.path), local_comm());
  std::vector<double> expected;
  while (straight.step() < 6) expected.push_back(straight.train_step().loss);

  {
    Trainer first(config(split_dir.path), local_comm());
    for (int i = 0; i < 3; ++i) first.train_step();
    first.save();
  }
  Trainer resumed(config(split_dir.path), local_comm());  // ckpt.resume = auto finds `latest`
  ASSERT_EQ(resumed.step(), 3);
  for (int s = 3; s < 6; ++s) EXPECT_EQ(resumed.train_step().loss, expected[s]) << "step " << s + 1;
}

TEST(Checkpoint, ResumingADifferentModelIsADataError) {
  TempDir tmp;
  {
    Trainer a(config(tmp.path), local_comm());
    a.train_step();
    a.save();
  }
  try {
    Trainer b(config(tmp.path, {"--model.d_ff=48"}), local_comm());
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("model.d_ff"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model-shared.h5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sy
