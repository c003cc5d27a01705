// runtime/config.h — the effective run configuration as plain structs (DESIGN.md §6).
// Parsing, defaults, validation and --help live in one schema table in launch/.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sy {

enum class NormKind { layernorm, rmsnorm };
enum class Activation { gelu, relu, swiglu };
enum class Positions { learned, sinusoidal, rope };
enum class RouterNoise { none, gumbel, jitter };
enum class AuxScope { micro, global };
enum class Precision { fp32, bf16 };
enum class DeviceKind { cpu, cuda };
enum class A2aAlgo { flat, hierarchical };

struct ModelConfig {
  int vocab_size = 256;
  int d_model = 64;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 0;  // 0: same as n_heads (resolved by the schema)
  int d_ff = 256;
  int max_seq_len = 256;
  NormKind norm = NormKind::layernorm;
  Activation activation = Activation::gelu;
  Positions positions = Positions::learned;
  int position_offset = 0;
  double rope_theta = 10000.0;
  bool bias = true;
  bool tie_embeddings = true;
  bool scale_embeddings = false;
  std::vector<int> moe_layers;

  int d_head() const { return d_model / n_heads; }
  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  bool is_moe_layer(int l) const {
    for (int m : moe_layers)
      if (m == l) return true;
    return false;
  }

  bool operator==(const ModelConfig&) const = default;
};

struct MoeConfig {
  int num_experts = 0;
  int top_k = 2;
  int d_expert = 0;  // 0: same as model.d_ff (resolved by the schema)
  double capacity_factor = 0.0;  // 0 = dropless
  bool normalize_topk = false;
  RouterNoise router_noise = RouterNoise::none;
  double jitter_eps = 0.01;
  double aux_loss_coef = 0.01;
  double z_loss_coef = 0.001;
  AuxScope aux_loss_scope = AuxScope::micro;
  int shared_experts = 0;
  double bias_update_rate = 0.0;  // 0 = loss-free balancing off

  bool operator==(const MoeConfig&) const = default;
};

struct TrainConfig {
  int64_t steps = 100;
  int micro_batch = 4;
  int seq_len = 64;
  int grad_accum = 1;
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_steps = 10;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // 0 = no clipping
  uint64_t seed = 1234;
  Precision precision = Precision::fp32;
  DeviceKind device = DeviceKind::cpu;

  bool operator==(const TrainConfig&) const = default;
};

struct ParallelConfig {
  int ep = 1;
  int a2a_chunks = 1;
  int threads = 0;  // 0 = cores of the node / ranks on the node
  double bucket_mb = 25.0;
  double stall_timeout_s = 300.0;
  A2aAlgo a2a = A2aAlgo::flat;

  bool operator==(const ParallelConfig&) const = default;
};

struct DataConfig {
  std::string source = "synthetic";  // synthetic | text:PATH | shards:GLOB

  bool operator==(const DataConfig&) const = default;
};

struct CkptConfig {
  std::string dir;        // empty = no checkpoints
  int64_t every = 0;      // 0 = no periodic saves (a final one is still written when dir is set)
  int keep = 0;           // 0 = keep all
  std::string resume = "auto";  // auto | none | PATH

  bool operator==(const CkptConfig&) const = default;
};

struct LogConfig {
  int64_t every = 1;
  std::string metrics;      // JSONL path, empty = none
  std::string tensorboard;  // dir, empty = none

  bool operator==(const LogConfig&) const = default;
};

struct EvalConfig {
  int64_t max_windows = 0;  // 0 = all windows that fit

  bool operator==(const EvalConfig&) const = default;
};

struct Config {
  ModelConfig model;
  MoeConfig moe;
  TrainConfig train;
  ParallelConfig parallel;
  DataConfig data;
  CkptConfig ckpt;
  LogConfig log;
  EvalConfig eval;

  bool operator==(const Config&) const = default;
};

}  // namespace sy
