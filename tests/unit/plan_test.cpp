// tests/unit/plan_test.cpp — `switchyard plan`'s analytic counts equal the real model's parameters,
// and reproduce the seed documents' figures (Mixtral 8x7B, fairseq 15B).
#include "launch/plan.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "launch/config_schema.h"
#include "model/transformer.h"

namespace sy {
namespace {

std::string repo_file(const std::string& rel) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / rel).string();
}

int64_t built_params(const Config& c, int ep_rank, int ep, bool experts_only) {
  Transformer<float> model(c.model, c.moe, ep_rank, ep);
  int64_t n = 0;
  for (auto& p : model.params())
    if (!experts_only || p.group == ParamGroup::expert) n += p.value.numel();
  return n;
}

TEST(Plan, CountsEqualTheBuiltModelForEveryOption) {
  const std::string ini =
      "[model]\nvocab_size = 50\nd_model = 16\nn_layers = 3\nn_heads = 4\nd_ff = 24\nmax_seq_len = 16\n"
      "moe_layers = 0,2\n[moe]\nnum_experts = 4\ntop_k = 2\n[train]\nseq_len = 8\n";
  const std::vector<std::vector<std::string>> variants = {
      {},
      {"--model.norm=rmsnorm", "--model.activation=swiglu", "--model.bias=false", "--model.tie_embeddings=false",
       "--model.positions=rope", "--model.n_kv_heads=2", "--moe.d_expert=8", "--moe.shared_experts=2"},
      {"--model.positions=learned", "--model.position_offset=2", "--moe.bias_update_rate=0.01"},
      {"--model.moe_layers=", "--model.activation=relu"}};
  for (const auto& v : variants) {
    const Config c = parse_config_text(ini, v);
    const RunPlan p = make_plan(c, 2);
    int64_t expected = built_params(c, 0, 1, false);
    // The loss-free bias is a buffer, not a parameter: the plan leaves it out.
    if (c.moe.bias_update_rate > 0) expected -= int64_t(c.model.moe_layers.size()) * c.moe.num_experts;
    EXPECT_EQ(p.params_total, expected) << ::testing::PrintToString(v);
    if (!c.model.moe_layers.empty()) {
      EXPECT_EQ(p.params_expert * c.moe.num_experts, built_params(c, 0, 1, true));
    }
  }
}

TEST(Plan, MixtralMatchesTheSeedMaths) {
  // Seed 001: 46.7B total, ~12.9B active per token.
  const RunPlan p = make_plan(parse_config(repo_file("configs/mixtral-8x7b.ini"), {"--parallel.ep=8"}), 8);
  EXPECT_NEAR(double(p.params_total) / 1e9, 46.7, 0.1);
  EXPECT_NEAR(double(p.params_active) / 1e9, 12.9, 0.1);
  EXPECT_EQ(p.experts_per_rank, 1);
}

TEST(Plan, FairseqFifteenBillionLayout) {
  // Seed 000: ~15B parameters, 512 experts, 8 of them per rank file at 64 ranks.
  const std::string path = repo_file("configs/fairseq-moe-15b.ini");
  const RunPlan w64 = make_plan(parse_config(path, {"--parallel.ep=64"}), 64);
  EXPECT_NEAR(double(w64.params_total) / 1e9, 15.0, 0.5);
  EXPECT_EQ(w64.experts_per_rank, 8);
  const RunPlan w4 = make_plan(parse_config(path, {"--parallel.ep=4"}), 4);
  EXPECT_EQ(w4.experts_per_rank, 128);
  EXPECT_EQ(w4.expert_shard_bytes, 16 * w64.expert_shard_bytes);
  EXPECT_EQ(w4.dense_bytes, w64.dense_bytes);
  EXPECT_GT(w64.a2a_bytes_per_step, 0);
  EXPECT_EQ(w64.allreduce_bytes_per_step, w64.dense_bytes);  // ep = W: no expert-DP replicas
}

TEST(Plan, JsonHasTheContractFields) {
  const RunPlan p = make_plan(parse_config(repo_file("configs/tiny.ini"), {}), 1);
  const std::string j = plan_json(p, 1.0);
  for (const char* k : {"\"params_total\":", "\"params_active\":", "\"per_rank_bytes\":", "\"a2a_bytes_per_step\":",
                        "\"allreduce_bytes_per_step\":", "\"fits\":true"})
    EXPECT_NE(j.find(k), std::string::npos) << k << " in " << j;
  EXPECT_NE(plan_text(p, parse_config(repo_file("configs/tiny.ini"), {}), 1e-9).find("WARNING: does not fit"),
            std::string::npos);
}

}  // namespace
}  // namespace sy
