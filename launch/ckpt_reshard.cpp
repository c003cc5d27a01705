// launch/ckpt_reshard.cpp — `switchyard ckpt reshard`: rewrites a checkpoint for another expert-parallel
// size, offline: every tensor is read by its global name and written with the new experts_per_file.
#include <cstdio>

#include "io/checkpoint_commit.h"
#include "io/checkpoint_inspect.h"
#include "launch/checkpointing.h"
#include "launch/ckpt_actions.h"
#include "launch/config_schema.h"

namespace sy {

namespace fs = std::filesystem;

fs::path reshard_checkpoint(const fs::path& src, const fs::path& dst, int64_t ep) {
  CheckpointMeta meta;
  CheckpointTensors tensors;
  std::vector<std::vector<float>> storage;  // owns what `tensors` points at
  {
    // Everything is read and the source closed before anything is written, so DST may be SRC's ckpt.dir.
    CheckpointReader reader(src);
    const Config cfg = stored_config(reader);
    if (ep < 1 || cfg.moe.num_experts % ep != 0)
      throw UsageError("ckpt reshard: --ep " + std::to_string(ep) + " does not divide moe.num_experts = " +
                       std::to_string(cfg.moe.num_experts));
    meta = reader.meta();
    if (meta.experts_per_file > 0 && meta.num_experts() != cfg.moe.num_experts)
      throw DataError((reader.dir() / kSharedFileName).string() + ": holds " + std::to_string(meta.num_experts()) +
                      " experts, its config says moe.num_experts = " + std::to_string(cfg.moe.num_experts));
    if (meta.experts_per_file > 0) meta.experts_per_file = meta.num_experts() / ep;
    meta.ep_size = ep;
    meta.config = to_ini(stored_config(reader, {"--parallel.ep=" + std::to_string(ep)}));
    const auto all = reader.list();
    storage.reserve(all.size());
    for (const StoredTensor& t : all) {
      storage.push_back(load_stored(reader, t));
      NamedTensor nt{t.name, t.shape, storage.back().data(), t.expert};
      switch (t.section) {
        case TensorSection::model: tensors.model.push_back(nt); break;
        case TensorSection::exp_avg: tensors.exp_avg.push_back(nt); break;
        case TensorSection::exp_avg_sq: tensors.exp_avg_sq.push_back(nt); break;
      }
    }
  }
  const int64_t step = meta.trainer.step;
  const fs::path partial = begin_checkpoint(dst, step);
  write_shared_file(partial, meta, tensors);
  if (meta.experts_per_file > 0)
    for (int64_t n = 0; n < ep; ++n) write_rank_file(partial, n, meta, tensors);
  return commit_checkpoint(dst, step, /*keep=*/0);
}

int ckpt_reshard(const CliCommand& cmd) {
  const fs::path out = reshard_checkpoint(cmd.paths[0], cmd.paths[1], cmd.reshard_ep);
  std::printf("reshard: %s -> %s (ep_size %d)\n", cmd.paths[0].c_str(), out.c_str(), cmd.reshard_ep);
  return 0;
}

}  // namespace sy
