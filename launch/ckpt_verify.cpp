// launch/ckpt_verify.cpp — `switchyard ckpt verify`: every file present, every checksum, every
// dataset's name and shape as the stored config builds the model, every expert id exactly once.
#include <cstdio>
#include <map>
#include <set>

#include "io/checkpoint_inspect.h"
#include "launch/checkpointing.h"
#include "launch/ckpt_actions.h"
#include "model/transformer.h"

namespace sy {

namespace fs = std::filesystem;

namespace {

struct Expected {
  Shape shape;
  int expert = -1;
  bool trainable = true;
};

// Every tensor the stored config's model has, by global name: the dense ones of EP rank 0
// and the experts of every EP rank, built exactly as the trainer builds them.
std::map<std::string, Expected> expected_tensors(const Config& cfg, int64_t ep) {
  std::map<std::string, Expected> out;
  for (int64_t p = 0; p < ep; ++p) {
    Transformer<float> model(cfg.model, cfg.moe, static_cast<int>(p), static_cast<int>(ep));
    for (auto& param : model.params())
      if (p == 0 || param.group == ParamGroup::expert)
        out[param.name] = {param.value.shape(), param.group == ParamGroup::expert ? param.expert : -1,
                           param.trainable};
  }
  return out;
}

// The file and dataset path a tensor lives under in this checkpoint.
std::string where(const fs::path& dir, TensorSection s, const std::string& name, int expert, int64_t L) {
  const bool in_rank = expert >= 0 && L > 0;
  const std::string file = in_rank ? rank_file_name(locate_expert(expert, L).file) : std::string(kSharedFileName);
  return (dir / file).string() + ": dataset " + std::string(section_group(s)) + "/" +
         (in_rank ? local_expert_name(name, L) : name);
}

void check_expert_coverage(const fs::path& dir, const std::vector<StoredTensor>& stored, int64_t E, int64_t L) {
  // One entry per expert tensor kind (name with id 0): which rank file holds each id.
  std::map<std::string, std::vector<std::string>> holder;
  for (const StoredTensor& t : stored) {
    if (t.section != TensorSection::model || t.expert < 0) continue;
    const std::string here = where(dir, t.section, t.name, t.expert, L);
    if (t.expert >= E) throw DataError(here + " has expert id " + std::to_string(t.expert) + " >= " + std::to_string(E));
    auto& files = holder[with_expert_id(t.name, 0)];
    files.resize(static_cast<size_t>(E));
    if (!files[t.expert].empty())
      throw DataError(here + ": expert " + std::to_string(t.expert) + " is stored twice (also " + files[t.expert] + ")");
    files[t.expert] = t.file;
  }
  for (const auto& [kind, files] : holder)
    for (int64_t e = 0; e < E; ++e)
      if (files[e].empty())
        throw DataError(where(dir, TensorSection::model, with_expert_id(kind, e), int(e), L) +
                        " is missing: expert " + std::to_string(e) + " is in no rank file");
}

void check_against_config(const CheckpointReader& reader, const std::vector<StoredTensor>& stored) {
  const CheckpointMeta& m = reader.meta();
  const fs::path& dir = reader.dir();
  const Config cfg = stored_config(reader);
  const std::string shared = (dir / kSharedFileName).string();
  const bool has_moe = !cfg.model.moe_layers.empty();
  if (has_moe != (m.experts_per_file > 0) || (has_moe && m.num_experts() != cfg.moe.num_experts))
    throw DataError(shared + ": ep_size " + std::to_string(m.ep_size) + " × experts_per_file " +
                    std::to_string(m.experts_per_file) + " does not match the stored config's moe.num_experts = " +
                    std::to_string(cfg.moe.num_experts) + " with " + (has_moe ? "" : "no ") + "MoE layers");
  const int64_t L = m.experts_per_file;
  const auto expected = expected_tensors(cfg, has_moe ? m.ep_size : 1);
  std::map<TensorSection, std::set<std::string>> seen;
  for (const StoredTensor& t : stored) {
    const std::string here = where(dir, t.section, t.name, t.expert, L);
    auto it = expected.find(t.name);
    if (it == expected.end() || (t.section != TensorSection::model && !it->second.trainable))
      throw DataError(here + " is not a " + std::string(section_name(t.section)) + " tensor of the stored config");
    if (it->second.shape != t.shape)
      throw DataError(here + " has shape " + shape_str(t.shape) + ", the stored config gives " +
                      shape_str(it->second.shape));
    if (it->second.expert != t.expert)
      throw DataError(here + " is in the wrong file for expert " + std::to_string(it->second.expert));
    seen[t.section].insert(t.name);
  }
  // The model tree is complete; an optimizer tree, when present, covers every trainable tensor.
  for (TensorSection s : {TensorSection::model, TensorSection::exp_avg, TensorSection::exp_avg_sq}) {
    if (s != TensorSection::model && seen[s].empty()) continue;
    for (const auto& [name, e] : expected)
      if ((s == TensorSection::model || e.trainable) && !seen[s].count(name))
        throw DataError(where(dir, s, name, e.expert, L) + " is missing");
  }
}

}  // namespace

int ckpt_verify(const CliCommand& cmd) {
  CheckpointReader reader(cmd.paths[0]);
  const CheckpointMeta& m = reader.meta();
  if (m.experts_per_file > 0)
    for (int64_t n = 0; n < m.ep_size; ++n)
      if (!fs::exists(reader.dir() / rank_file_name(n)))
        throw DataError((reader.dir() / rank_file_name(n)).string() + ": missing (ep_size = " +
                        std::to_string(m.ep_size) + ")");
  const size_t count = reader.verify();  // opens and validates every file, checks every checksum
  const std::vector<StoredTensor> stored = reader.list();
  if (m.experts_per_file > 0) check_expert_coverage(reader.dir(), stored, m.num_experts(), m.experts_per_file);
  check_against_config(reader, stored);
  std::printf("verify: OK (%zu tensors)\n", count);
  return 0;
}

}  // namespace sy
