// tests/unit/trainer_metrics_test.cpp — the metrics JSONL line carries every field of DESIGN.md §6 with sane values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "comm/local_collectives.h"
#include "launch/config_schema.h"
#include "launch/trainer.h"

namespace sy {
namespace {

TEST(TrainerMetrics, EveryContractFieldIsWrittenEachLoggedStep) {
  const std::string path = "/tmp/sy-metrics-" + std::to_string(::getpid()) + ".jsonl";
  std::filesystem::remove(path);
  const std::string ini =
      "[model]\nvocab_size = 32\nd_model = 16\nn_layers = 2\nn_heads = 2\nd_ff = 32\nmax_seq_len = 16\n"
      "moe_layers = 0,1\n[moe]\nnum_experts = 4\ntop_k = 2\ncapacity_factor = 0.5\n"
      "[train]\nsteps = 3\nmicro_batch = 2\nseq_len = 8\n";
  LocalCollectives comm;
  Trainer trainer(parse_config_text(ini, {"--log.metrics=" + path}), comm);
  trainer.run();
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 3u);
  for (const char* field : {"\"step\":3", "\"loss\":", "\"ce_loss\":", "\"aux_loss\":", "\"z_loss\":", "\"lr\":",
                            "\"grad_norm\":", "\"tokens_per_s\":", "\"step_ms\":", "\"a2a_ms\":", "\"a2a_exposed_ms\":",
                            "\"dropped_frac\":", "\"expert_load\":[[", "\"router_entropy\":[",
                            "\"unused_experts\":[", "\"load_max\":["})
    EXPECT_NE(lines[2].find(field), std::string::npos) << field << " missing in " << lines[2];
  // 2 layers × 16 tokens × top-2: each layer's loads sum to 32 assignments.
  EXPECT_NE(lines[2].find("\"load_mean\":[8,8]"), std::string::npos) << lines[2];
  // Capacity ⌈0.5·16·2/4⌉ = 4 per expert: each layer keeps Σ_e min(load_e, 4) of its 32.
  const auto numbers = [&](const std::string& key) {
    std::vector<double> out;
    size_t at = lines[2].find("\"" + key + "\":") + key.size() + 3;
    const size_t end = lines[2].find(key == "expert_load" ? "]]" : "]", at);
    for (std::string item; at < end; ++at) {
      const char c = lines[2][at];
      if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '-') item += c;
      if ((c == ',' || c == ']' || at + 1 == end) && !item.empty()) out.push_back(std::stod(item)), item.clear();
    }
    return out;
  };
  const auto load = numbers("expert_load"), dropped = numbers("layer_dropped_frac");
  ASSERT_EQ(load.size(), 8u);
  ASSERT_EQ(dropped.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    double kept = 0;
    for (int e = 0; e < 4; ++e) kept += std::min(load[l * 4 + e], 4.0);
    EXPECT_DOUBLE_EQ(dropped[l], 1.0 - kept / 32.0) << "layer " << l;
  }
}

}  // namespace
}  // namespace sy
