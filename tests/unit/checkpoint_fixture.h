// tests/unit/checkpoint_fixture.h — a temp directory and a small fake MoE model (8 experts)
// whose tensors the checkpoint tests save, load and corrupt.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "io/checkpoint_commit.h"
#include "io/checkpoint_dataset.h"
#include "io/checkpoint_reader.h"
#include "io/checkpoint_writer.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace sy::test {

// Lowers the checkpoint I/O block size for one test, so small tensors take the
// multi-block path; restores it afterwards.
class ScopedBlockBytes {
 public:
  explicit ScopedBlockBytes(int64_t bytes) : saved_(checkpoint_block_bytes()) { set_checkpoint_block_bytes(bytes); }
  ~ScopedBlockBytes() { set_checkpoint_block_bytes(saved_); }
  ScopedBlockBytes(const ScopedBlockBytes&) = delete;
  ScopedBlockBytes& operator=(const ScopedBlockBytes&) = delete;

 private:
  int64_t saved_;
};

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sy-ckpt-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

constexpr int kExperts = 8;

// Owned buffers for every parameter and both AdamW moments.
struct FakeTensor {
  std::string name;
  Shape shape;
  int expert = -1;
  bool has_moments = true;
  std::vector<float> value, exp_avg, exp_avg_sq;
};

class FakeModel {
 public:
  // filled: deterministic values from `seed` (different per tensor and section,
  // with -0, inf, a NaN payload and a denormal to check bits survive); else zeros.
  explicit FakeModel(bool filled, uint64_t seed = 7) {
    add("decoder/embed_tokens/weight", {16, 4});
    add("decoder/layers/0/self_attn/q_proj/weight", {4, 4});
    add("decoder/layers/0/self_attn/q_proj/bias", {4});
    add("decoder/layers/0/fc1/weight", {8, 4});
    add("decoder/layers/1/moe_layer/gate/wg/weight", {kExperts, 4});
    add("decoder/layers/1/moe_layer/gate/expert_bias", {kExperts}, -1, false);  // buffer: no moments
    add("decoder/layers/1/moe_layer/shared_experts/0/fc1/weight", {6, 4});
    add("decoder/logit_scale", {});  // a 0-d tensor
    for (int e = 0; e < kExperts; ++e) {
      std::string p = "decoder/layers/1/moe_layer/experts/" + std::to_string(e) + "/";
      add(p + "fc1/weight", {6, 4}, e);
      add(p + "fc1/bias", {6}, e);
      add(p + "fc2/weight", {4, 6}, e);
      add("decoder/layers/3/moe_layer/experts/" + std::to_string(e) + "/fc1/weight", {6, 4}, e);
    }
    add("decoder/layer_norm/weight", {4});
    if (!filled) return;
    for (FakeTensor& t : tensors_) {
      fill(t.value, seed, "value/" + t.name);
      fill(t.exp_avg, seed, "exp_avg/" + t.name);
      fill(t.exp_avg_sq, seed, "exp_avg_sq/" + t.name);
    }
    float* v = tensors_[0].value.data();
    v[0] = -0.0f;
    v[1] = std::numeric_limits<float>::infinity();
    uint32_t nan_bits = 0x7fc12345u;
    std::memcpy(&v[2], &nan_bits, 4);
    v[3] = std::numeric_limits<float>::denorm_min();
  }

  std::vector<FakeTensor>& tensors() { return tensors_; }

  // The lists a rank holding the experts `owns` accepts would pass (dense always).
  CheckpointTensors lists(const std::function<bool(int)>& owns = [](int) { return true; }) {
    CheckpointTensors out;
    for (FakeTensor& t : tensors_) {
      if (t.expert >= 0 && !owns(t.expert)) continue;
      out.model.push_back({t.name, t.shape, t.value.data(), t.expert});
      if (!t.has_moments) continue;
      out.exp_avg.push_back({t.name, t.shape, t.exp_avg.data(), t.expert});
      out.exp_avg_sq.push_back({t.name, t.shape, t.exp_avg_sq.data(), t.expert});
    }
    return out;
  }

 private:
  void add(std::string name, Shape shape, int expert = -1, bool moments = true) {
    FakeTensor& t = tensors_.emplace_back();
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.expert = expert;
    t.has_moments = moments;
    size_t n = static_cast<size_t>(shape_numel(t.shape));
    t.value.assign(n, 0.0f);
    if (moments) {
      t.exp_avg.assign(n, 0.0f);
      t.exp_avg_sq.assign(n, 0.0f);
    }
  }
  static void fill(std::vector<float>& v, uint64_t seed, const std::string& key) {
    Rng rng(seed, fnv1a(key));
    for (float& x : v) x = static_cast<float>(rng.normal());
  }

  std::vector<FakeTensor> tensors_;
};

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

inline CheckpointMeta make_meta(int64_t step, int64_t ep, int64_t world) {
  CheckpointMeta m;
  m.ep_size = ep;
  m.experts_per_file = kExperts / ep;
  m.world_size = world;
  m.config = "[model]\nd_model = 4\n\n[moe]\nnum_experts = 8\n";
  m.trainer.step = step;
  m.trainer.tokens_seen = step * 1024;
  m.trainer.optimizer_step = step;
  m.trainer.lr_schedule_step = step;
  m.trainer.data_cursor = step * 16 + 3;
  m.trainer.rng_seed = 0xfeedfacecafebeefull;
  m.trainer.rng_counters = {static_cast<uint64_t>(step), static_cast<uint64_t>(2 * step + 1)};
  m.trainer.extra["loss_scale_exponent"] = int64_t{-3};
  m.trainer.extra["best_eval_loss"] = 2.71828;
  return m;
}

// Writes a checkpoint as a run with `world` ranks and EP size `ep` would, one
// rank after another (HDF5 here is not thread-safe, so no threads): each rank
// passes only the experts it owns, roles from SaveRole::for_rank.
inline std::filesystem::path save_as_ranks(const std::filesystem::path& dir, FakeModel& model, int64_t step, int ep,
                                           int world, int keep = 0) {
  CheckpointMeta meta = make_meta(step, ep, world);
  std::filesystem::path partial = begin_checkpoint(dir, step);
  const int L = kExperts / ep;
  for (int r = 0; r < world; ++r) {
    int p = r % ep;
    CheckpointTensors t = model.lists([&](int e) { return e / L == p; });
    SaveRole role = SaveRole::for_rank(r, ep);
    if (role.coordinator) write_shared_file(partial, meta, t);
    if (role.rank_file >= 0) write_rank_file(partial, role.rank_file, meta, t);
  }
  return commit_checkpoint(dir, step, keep);
}

// Loads every tensor (and both moments) a rank of an EP-`ep` run owning group
// index `p` holds into `into`.
inline void load_as_rank(const std::filesystem::path& ckpt, FakeModel& into, int ep, int p) {
  const int L = kExperts / ep;
  CheckpointTensors t = into.lists([&](int e) { return e / L == p; });
  CheckpointReader reader(ckpt);
  reader.load(t.model, TensorSection::model);
  reader.load(t.exp_avg, TensorSection::exp_avg);
  reader.load(t.exp_avg_sq, TensorSection::exp_avg_sq);
}

// Runs `f`, expecting a one-line DataError whose message contains every one of `parts`.
inline void expect_data_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

}  // namespace sy::test
