// launch/config_validate.cpp — resolved defaults and the cross-key rules checked before any work.
#include <set>
#include <string>

#include "launch/config_schema.h"
#include "runtime/error.h"

namespace sy {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw ConfigError("config error: " + message);
}

std::string str(long long v) { return std::to_string(v); }

// A value as the schema writes it, so messages show reals the way the user wrote them.
std::string key_text(const std::string& name, const Config& config) {
  return find_config_key(name)->get(config);
}

}  // namespace

void resolve_defaults(Config& config) {
  if (config.model.n_kv_heads == 0) config.model.n_kv_heads = config.model.n_heads;
  if (config.moe.d_expert == 0) config.moe.d_expert = config.model.d_ff;
}

void validate(const Config& config) {
  // Each key's own range, by reading its value back through the table: a Config built in code
  // meets the same rules as one read from a file.
  Config scratch;
  for (const auto& key : config_schema()) key.set(scratch, key.get(config));

  const ModelConfig& m = config.model;
  const MoeConfig& moe = config.moe;
  const TrainConfig& t = config.train;

  if (m.d_model % m.n_heads != 0)
    fail("model.n_heads = " + str(m.n_heads) +
         " does not divide model.d_model = " + str(m.d_model));
  if (m.n_heads % m.kv_heads() != 0)
    fail("model.n_kv_heads = " + str(m.kv_heads()) +
         " does not divide model.n_heads = " + str(m.n_heads));
  if (m.positions == Positions::rope && m.d_head() % 2 != 0)
    fail("model.positions = rope needs an even head size, but model.d_model / model.n_heads = " +
         str(m.d_head()));

  std::set<int> seen;
  for (int layer : m.moe_layers) {
    if (layer < 0 || layer >= m.n_layers)
      fail("model.moe_layers entry " + str(layer) +
           " is outside [0, model.n_layers = " + str(m.n_layers) + ")");
    if (!seen.insert(layer).second) fail("model.moe_layers lists layer " + str(layer) + " twice");
  }
  if (!m.moe_layers.empty()) {
    if (moe.num_experts < 1)
      fail("moe.num_experts = " + str(moe.num_experts) +
           " but model.moe_layers is not empty (need >= 1 expert)");
    if (moe.top_k > moe.num_experts)
      fail("moe.top_k = " + str(moe.top_k) + " exceeds moe.num_experts = " + str(moe.num_experts));
    if (moe.num_experts % config.parallel.ep != 0)
      fail("parallel.ep = " + str(config.parallel.ep) +
           " does not divide moe.num_experts = " + str(moe.num_experts));
  }

  if (t.seq_len > m.max_seq_len)
    fail("train.seq_len = " + str(t.seq_len) +
         " exceeds model.max_seq_len = " + str(m.max_seq_len));
  // A learned table holds max_seq_len rows and positions are looked up at t + position_offset.
  if (m.positions == Positions::learned &&
      static_cast<long long>(t.seq_len) + m.position_offset > m.max_seq_len)
    fail("model.max_seq_len = " + str(m.max_seq_len) +
         " does not cover train.seq_len + model.position_offset = " +
         str(static_cast<long long>(t.seq_len) + m.position_offset) + " (learned positions)");

  if (t.min_lr > t.lr)
    fail("train.min_lr = " + key_text("train.min_lr", config) +
         " exceeds train.lr = " + key_text("train.lr", config));

  // Byte-level text yields ids up to 255.
  if (config.data.source.rfind("text:", 0) == 0 && m.vocab_size < 256)
    fail("model.vocab_size = " + str(m.vocab_size) +
         " is below 256, which data.source = " + config.data.source + " (bytes) needs");

  if (config.ckpt.every > 0 && config.ckpt.dir.empty())
    fail("ckpt.every = " + str(config.ckpt.every) + " needs ckpt.dir to be set");
}

void validate_world(const Config& config, int world_size) {
  if (world_size < 1) fail("world size " + str(world_size) + " must be >= 1");
  if (world_size % config.parallel.ep != 0)
    fail("parallel.ep = " + str(config.parallel.ep) + " does not divide the world size " +
         str(world_size));
}

}  // namespace sy
