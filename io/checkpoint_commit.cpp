// io/checkpoint_commit.cpp — the crash-safe directory protocol of a save.
#include "io/checkpoint_commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "io/checkpoint_layout.h"
#include "io/checkpoint_reader.h"
#include "runtime/error.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_errno(const std::string& what, const fs::path& path) {
  throw DataError(path.string() + ": " + what + " failed: " + std::strerror(errno));
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) fail_errno("rename to " + to.string(), from);
}

void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) std::fprintf(stderr, "warning: could not remove %s: %s\n", path.c_str(), ec.message().c_str());
}

// Replaces the directory `to` by `from`.  renameat2(RENAME_EXCHANGE) swaps them
// atomically, so `latest` never names a missing directory; file systems without
// it (some NFS) get two renames and a short window instead.
void replace_directory(const fs::path& from, const fs::path& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
    remove_quietly(from);  // now holds the old contents
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) fail_errno("exchange with " + to.string(), from);
  fs::path old = to;
  old += ".replaced";
  remove_quietly(old);
  rename_or_throw(to, old);
  rename_or_throw(from, to);
  remove_quietly(old);
}

// Refuses to commit a .partial that lacks a file or belongs to another step.
void check_complete(const fs::path& partial, int64_t step) {
  CheckpointReader reader(partial);
  const CheckpointMeta& meta = reader.meta();
  if (meta.trainer.step != step)
    throw DataError((partial / kSharedFileName).string() + ": holds step " + std::to_string(meta.trainer.step) +
                    ", expected " + std::to_string(step));
  if (meta.experts_per_file > 0)
    for (int64_t n = 0; n < meta.ep_size; ++n)
      if (!fs::is_regular_file(partial / rank_file_name(n)))
        throw DataError((partial / rank_file_name(n)).string() + ": missing, the save is incomplete");
}

void rotate(const fs::path& ckpt_dir, int64_t committed, int keep) {
  // Any other .partial is left by a crashed save: only one save runs at a time.
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(ckpt_dir)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".partial") || name.ends_with(".replaced")) stale.push_back(entry.path());
  }
  for (const fs::path& p : stale) remove_quietly(p);
  if (keep <= 0) return;
  std::vector<int64_t> steps = list_checkpoints(ckpt_dir);
  std::erase(steps, committed);
  std::sort(steps.rbegin(), steps.rend());  // newest first
  for (size_t i = static_cast<size_t>(keep - 1); i < steps.size(); ++i)
    remove_quietly(ckpt_dir / step_dir_name(steps[i]));
}

}  // namespace

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open for fsync", path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) fail_errno("fsync", path);
}

fs::path begin_checkpoint(const fs::path& ckpt_dir, int64_t step) {
  std::error_code ec;
  fs::create_directories(ckpt_dir, ec);
  if (ec) throw DataError(ckpt_dir.string() + ": cannot create checkpoint directory: " + ec.message());
  fs::path partial = ckpt_dir / partial_dir_name(step);
  fs::remove_all(partial, ec);  // left by a crashed save of the same step
  if (ec) throw DataError(partial.string() + ": cannot remove stale partial checkpoint: " + ec.message());
  fs::create_directory(partial, ec);
  if (ec) throw DataError(partial.string() + ": cannot create: " + ec.message());
  return partial;
}

fs::path commit_checkpoint(const fs::path& ckpt_dir, int64_t step, int keep) {
  fs::path partial = ckpt_dir / partial_dir_name(step);
  fs::path final_dir = ckpt_dir / step_dir_name(step);
  check_complete(partial, step);
  fsync_path(partial);
  std::error_code ec;
  if (fs::exists(final_dir, ec))
    replace_directory(partial, final_dir);
  else
    rename_or_throw(partial, final_dir);
  fsync_path(ckpt_dir);
  write_latest(ckpt_dir, step_dir_name(step));
  rotate(ckpt_dir, step, keep);
  return final_dir;
}

void write_latest(const fs::path& ckpt_dir, std::string_view step_dir) {
  fs::path tmp = ckpt_dir / (std::string(kLatestFileName) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << step_dir << '\n';
    out.flush();
    if (!out) throw DataError(tmp.string() + ": cannot write");
  }
  fsync_path(tmp);
  rename_or_throw(tmp, ckpt_dir / kLatestFileName);
  fsync_path(ckpt_dir);
}

}  // namespace sy
