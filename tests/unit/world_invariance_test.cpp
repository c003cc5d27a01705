// tests/unit/world_invariance_test.cpp — the same model and global batch trained with any (W, ep) follows
// the same trajectory (DESIGN.md §4), with W ranks as threads over FakeCollectives.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "launch/config_schema.h"
#include "launch/trainer.h"
#include "tests/unit/fake_collectives.h"

namespace sy {
namespace {

constexpr int kSteps = 10;
constexpr int kGlobalBatch = 8;

Config config(int world, int ep, int chunks) {
  // Dropless and global aux scope: the only settings under which a micro-batch's
  // split across ranks cannot change the math.  Router noise keyed by global
  // token index and loss-free balancing from global counts are on as well.
  const std::string ini =
      "[model]\nvocab_size = 32\nd_model = 16\nn_layers = 2\nn_heads = 2\nd_ff = 32\nmax_seq_len = 16\n"
      "moe_layers = 0,1\n[moe]\nnum_experts = 4\ntop_k = 2\ncapacity_factor = 0\nshared_experts = 1\n"
      "aux_loss_scope = global\naux_loss_coef = 0.05\nz_loss_coef = 0.01\nrouter_noise = gumbel\n"
      "bias_update_rate = 0.001\n"
      "[train]\nsteps = 10\nseq_len = 8\nlr = 3e-3\nwarmup_steps = 2\nseed = 5\n";
  return parse_config_text(ini, {"--train.micro_batch=" + std::to_string(kGlobalBatch / world),
                                 "--parallel.ep=" + std::to_string(ep),
                                 "--parallel.a2a_chunks=" + std::to_string(chunks)});
}

struct Trajectory {
  std::vector<double> losses;                  // rank 0's reduced loss per step
  std::map<std::string, std::vector<float>> after_step1;  // every parameter after step 1, any owner
};

Trajectory train(int world, int ep, int chunks) {
  Trajectory out;
  std::mutex mu;
  test::run_ranks(world, ep, [&](Collectives& comm, int rank) {
    Trainer trainer(config(world, ep, chunks), comm);
    for (int s = 1; s <= kSteps; ++s) {
      const StepStats st = trainer.train_step();
      std::lock_guard<std::mutex> lock(mu);
      if (rank == 0) out.losses.push_back(st.loss);
      if (s == 1)
        for (auto& p : trainer.model().params())
          out.after_step1.emplace(p.name, std::vector<float>(p.value.data(), p.value.data() + p.value.numel()));
    }
  });
  return out;
}

struct Layout {
  int world, ep, chunks;
};

class WorldInvariance : public ::testing::TestWithParam<Layout> {};

TEST_P(WorldInvariance, LossesAndParametersMatchOneRank) {
  static const Trajectory reference = train(1, 1, 1);
  const auto [world, ep, chunks] = GetParam();
  const Trajectory t = train(world, ep, chunks);
  ASSERT_EQ(t.losses.size(), size_t(kSteps));
  for (int s = 0; s < kSteps; ++s)
    EXPECT_NEAR(t.losses[s], reference.losses[s], 1e-5 * std::abs(reference.losses[s])) << "step " << s + 1;
  ASSERT_EQ(t.after_step1.size(), reference.after_step1.size());  // every expert owned by some rank
  for (const auto& [name, ref] : reference.after_step1) {
    const auto& got = t.after_step1.at(name);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      worst = std::max(worst, double(std::abs(got[i] - ref[i])));
      scale = std::max(scale, double(std::abs(ref[i])));
    }
    EXPECT_LE(worst, 1e-5 * std::max(scale, 1.0)) << name;  // relative, absolute below 1
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, WorldInvariance,
                         ::testing::Values(Layout{2, 1, 1}, Layout{2, 2, 1}, Layout{4, 2, 1}, Layout{4, 4, 1},
                                           Layout{1, 1, 3}, Layout{2, 2, 3}, Layout{4, 4, 3}),
                         [](const auto& info) {
                           return "W" + std::to_string(info.param.world) + "_ep" + std::to_string(info.param.ep) +
                                  "_chunks" + std::to_string(info.param.chunks);
                         });

TEST(Determinism, TwoIdenticalFourRankRunsAreBitwiseEqual) {
  const Trajectory a = train(4, 2, 3), b = train(4, 2, 3);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.after_step1, b.after_step1);
}

}  // namespace
}  // namespace sy
