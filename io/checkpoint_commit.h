// io/checkpoint_commit.h — the directory side of a save: step-N.partial, fsync, the atomic
// rename, `latest`, and rotation of old checkpoints (DESIGN.md §5).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace sy {

// fsync a file or a directory (so a rename or a new entry in it is durable).
// Throws DataError naming the path.
void fsync_path(const std::filesystem::path& path);

// Coordinator, before any rank writes: creates <ckpt_dir> if needed and a fresh,
// empty <ckpt_dir>/step-N.partial/ (removing one left by a crashed save).
// Returns the .partial path.
std::filesystem::path begin_checkpoint(const std::filesystem::path& ckpt_dir, int64_t step);

// Coordinator, after every rank's files are written and synced:
//   - checks step-N.partial holds model-shared.h5 for this step and every
//     model-rank-N.h5 its ep_size names (DataError otherwise; nothing is renamed);
//   - fsyncs it, renames it to step-N (atomically swapping out an existing step-N,
//     e.g. when a run resumed at N saves N again), fsyncs <ckpt_dir>;
//   - replaces `latest` atomically (latest.tmp, fsync, rename, fsync dir);
//   - removes stale *.partial dirs and, when keep > 0, the oldest complete
//     checkpoints so that `keep` remain — never the one just committed.
// Failure to delete an old checkpoint is a warning on stderr, not an error: the
// save itself has succeeded by then.  Returns <ckpt_dir>/step-N.
std::filesystem::path commit_checkpoint(const std::filesystem::path& ckpt_dir, int64_t step, int keep);

// Atomically makes `latest` hold "<step_dir_name>\n".
void write_latest(const std::filesystem::path& ckpt_dir, std::string_view step_dir_name);

}  // namespace sy
