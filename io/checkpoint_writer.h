// io/checkpoint_writer.h — writes a checkpoint's HDF5 files and runs the crash-safe save
// protocol across ranks (DESIGN.md §5).
#pragma once
#include <filesystem>
#include <functional>
#include <vector>

#include "io/checkpoint_layout.h"
#include "io/checkpoint_state.h"

namespace sy {

// Everything one rank saves.  Each list may mix dense and expert tensors: the
// shared file takes the dense ones, model-rank-N.h5 the experts it holds.
// Moments are optional (empty lists write no /optimizer tree).
struct CheckpointTensors {
  std::vector<NamedTensor> model;       // -> /model/<name>
  std::vector<NamedTensor> exp_avg;     // -> /optimizer/exp_avg/<name>
  std::vector<NamedTensor> exp_avg_sq;  // -> /optimizer/exp_avg_sq/<name>
};

// Dataset format: float32 little-endian, contiguous (no chunking, no filters, no
// fill), with a uint64 attribute `checksum` = xxh64 of the stored bytes.  Each
// file gets the root attributes format, format_version, checksum_algorithm
// ("xxh64"), step, ep_size, experts_per_file; the file is closed and fsynced
// before these return.  Any failure throws DataError naming the file/dataset.

// <partial_dir>/model-shared.h5: every tensor with expert == -1, plus world_size,
// tokens_seen, config and the TrainerState (see io/checkpoint_state.h).
void write_shared_file(const std::filesystem::path& partial_dir, const CheckpointMeta& meta,
                       const CheckpointTensors& tensors);
// <partial_dir>/model-rank-N.h5: the tensors of global experts [N·L, (N+1)·L),
// renamed to local ids 0..L-1, plus the attribute global_expert_ids (int64[L]).
// Tensors of other experts and dense tensors are skipped, so a caller holding
// every expert may call this once per N.  Every one of the L experts must
// have at least one /model tensor.
void write_rank_file(const std::filesystem::path& partial_dir, int64_t file_index, const CheckpointMeta& meta,
                     const CheckpointTensors& tensors);

// Which files one rank writes in a collective save.
struct SaveRole {
  bool coordinator = false;  // prepares the .partial dir, writes model-shared.h5, commits
  int64_t rank_file = -1;    // N of the model-rank-N.h5 this rank writes, or -1
  // DESIGN.md §4: world rank 0 coordinates; the rank with EP index N and
  // expert-DP index 0 (that is, world rank N < ep_size) writes model-rank-N.h5.
  static SaveRole for_rank(int world_rank, int ep_size);
};

// A collective every rank calls with its own success; returns true iff all
// ranks passed true (e.g. MPI_Allreduce with MPI_LAND).  It doubles as the
// barrier between the save phases, and lets every rank fail with an error
// instead of waiting forever when one rank's write failed.
using AllRanksOk = std::function<bool(bool ok)>;

// The whole save, called by every rank with the same ckpt_dir, meta and keep:
//   1. coordinator: begin_checkpoint (a stale step-N.partial is replaced)   — all_ok
//   2. each rank writes its files into step-N.partial/ and fsyncs them       — all_ok
//   3. coordinator: commit_checkpoint (rename, `latest`, rotation to `keep`)
// Returns <ckpt_dir>/step-N (complete once the coordinator returns).  No rank
// files are written when meta.experts_per_file == 0.
std::filesystem::path save_checkpoint(const std::filesystem::path& ckpt_dir, const CheckpointMeta& meta,
                                      const CheckpointTensors& tensors, const SaveRole& role, int keep,
                                      const AllRanksOk& all_ok);

}  // namespace sy
