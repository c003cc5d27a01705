// io/checkpoint_state.h — what a checkpoint records besides tensors: layout attributes,
// the config text and the trainer's state (DESIGN.md §5).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace sy {

// Stored as root attributes of model-shared.h5 (step and tokens_seen also as
// root attributes of every file / the shared file, as the contract lists):
//   step, tokens_seen, optimizer_step, lr_schedule_step, data_cursor  int64
//   rng_seed  uint64,  rng_counters  uint64[] (null dataspace when empty)
// and `extra` as attributes of the group /trainer, one per entry, int64 or
// float64 by the variant's type — later code adds fields there without a
// format change.
struct TrainerState {
  int64_t step = 0;  // optimizer steps completed; names the checkpoint
  int64_t tokens_seen = 0;
  int64_t optimizer_step = 0;    // AdamW's bias-correction count
  int64_t lr_schedule_step = 0;  // position in the LR schedule
  int64_t data_cursor = 0;       // the data loader's position
  uint64_t rng_seed = 0;
  std::vector<uint64_t> rng_counters;
  std::map<std::string, std::variant<int64_t, double>> extra;

  bool operator==(const TrainerState&) const = default;
};

// The root attributes shared by a checkpoint's files plus the shared file's own.
struct CheckpointMeta {
  int64_t format_version = 0;    // filled by readers; writers always write the current version
  int64_t ep_size = 1;           // number of model-rank-N.h5 files (when experts_per_file > 0)
  int64_t experts_per_file = 0;  // L = E / ep_size; 0 for a model without MoE layers (no rank files)
  int64_t world_size = 1;        // ranks of the run that wrote it (informational: any W may load it)
  std::string config;            // the full effective config, INI text
  TrainerState trainer;

  int64_t num_experts() const { return ep_size * experts_per_file; }
};

}  // namespace sy
