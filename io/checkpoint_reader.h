// io/checkpoint_reader.h — finds a checkpoint, reads its metadata, and loads any tensor by
// its global name whatever EP size wrote it (DESIGN.md §5).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint_layout.h"
#include "io/checkpoint_state.h"

namespace sy {

// The checkpoint <ckpt_dir>/latest names, or nullopt when there is no `latest`.
// Throws DataError when `latest` is malformed or names a missing directory.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& ckpt_dir);
// Steps of the complete checkpoint directories (step-XXXXXXXX, no suffix), ascending.
std::vector<int64_t> list_checkpoints(const std::filesystem::path& ckpt_dir);
// `path` itself when it holds model-shared.h5, else the checkpoint its `latest`
// names.  DataError when it is neither.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& path);

// One dataset as stored, under its in-memory name (global expert id).
struct StoredTensor {
  std::string name;
  Shape shape;
  int expert = -1;
  TensorSection section = TensorSection::model;
  std::string file;  // e.g. "model-rank-1.h5"
};

// An open checkpoint.  Opens and validates model-shared.h5 on construction;
// rank files are opened (and validated: format, version, same step, ep_size,
// experts_per_file and global_expert_ids as the shared file) when first needed.
// Every failure is a DataError naming the file, and the dataset when there is one.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::filesystem::path& path);  // resolve_checkpoint(path)
  ~CheckpointReader();
  CheckpointReader(CheckpointReader&&) noexcept;
  CheckpointReader& operator=(CheckpointReader&&) noexcept;

  const std::filesystem::path& dir() const { return dir_; }
  const CheckpointMeta& meta() const { return meta_; }

  // Fills every wanted tensor from <section group>/<name>: dense ones from the
  // shared file, expert e from model-rank-(e/L).h5 under its local id (L of the
  // checkpoint, not of the reader — this is what reshards).  Checks the dtype
  // (float32), the shape against `shape` and the checksum (each dataset is hashed
  // on a helper thread while the next is read; a mismatch is thrown after the
  // last read, so on DataError the buffers hold unverified data).
  void load(const std::vector<NamedTensor>& wanted, TensorSection section);
  // Every dataset of every file, shared file first, then rank files in order.
  std::vector<StoredTensor> list();
  // Loads every dataset into a scratch buffer (checking checksums); returns how many.
  size_t verify();

 private:
  struct Files;
  std::filesystem::path dir_;
  CheckpointMeta meta_;
  std::unique_ptr<Files> files_;
};

CheckpointMeta read_checkpoint_meta(const std::filesystem::path& path);
void load_tensors(const std::filesystem::path& path, const std::vector<NamedTensor>& wanted, TensorSection section);

}  // namespace sy
