// io/checkpoint_inspect.h — what `switchyard ckpt` needs beyond reading: the checkpoint directories of a
// ckpt.dir, sizes, per-tensor statistics and differences.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/checkpoint_reader.h"

namespace sy {

// One step-N or step-N.partial directory of a ckpt.dir.
struct CheckpointDirEntry {
  std::string name;    // "step-00000200" or "step-00000200.partial"
  int64_t step = 0;
  uint64_t bytes = 0;  // every regular file below it
  bool complete = false;
  bool latest = false;  // `latest` names it
};

// The checkpoint directories of `dir`, ordered by step (complete before partial).
// DataError when `dir` is not a directory.
std::vector<CheckpointDirEntry> scan_checkpoint_dir(const std::filesystem::path& dir);
// "1536 B", "1.5 KiB", "2.3 MiB", ...
std::string human_bytes(uint64_t bytes);

struct TensorStats {
  double min = 0, max = 0, mean = 0, l2 = 0;
};
TensorStats tensor_stats(const float* data, int64_t n);

// max |a−b| and max |a−b| / max(|a|, |b|) (0 where both are 0).
struct TensorDiff {
  double max_abs = 0, max_rel = 0;
};
TensorDiff tensor_diff(const float* a, const float* b, int64_t n);

// One stored tensor's values (checksum checked).
std::vector<float> load_stored(CheckpointReader& reader, const StoredTensor& t);
// "/model/<name>" etc.: the dataset path under which `t` is addressed by global name.
std::string stored_path(const StoredTensor& t);

}  // namespace sy
