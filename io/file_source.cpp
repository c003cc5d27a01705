// io/file_source.cpp — FileSource: loading and validating text files and llm.c shards, reading windows.
#include "io/file_source.h"

#include <glob.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "runtime/error.h"

namespace sy {
namespace {

int32_t token_at(const FileSource::Segment& s, int64_t k) {
  const uint8_t* p = s.file.data() + s.header_bytes + static_cast<size_t>(k) * s.token_bytes;
  if (s.token_bytes == 1) return *p;
  uint16_t v;  // llm.c writes native little-endian uint16; memcpy avoids aliasing and alignment traps
  std::memcpy(&v, p, sizeof v);
  return v;
}

// First token >= vocab in the segment, or -1.  A linear scan once at start-up:
// a few hundred MB is well under a second, and a bad id found mid-run would
// cost far more.
int64_t find_out_of_vocab(const FileSource::Segment& s, int vocab) {
  const int64_t limit = s.token_bytes == 1 ? 256 : 65536;
  if (vocab >= limit) return -1;
  for (int64_t k = 0; k < s.ntokens; ++k)
    if (token_at(s, k) >= vocab) return k;
  return -1;
}

struct GlobGuard {
  glob_t g{};
  ~GlobGuard() { globfree(&g); }
};

FileSource::Segment load_shard(const std::string& path) {
  MappedFile file(path);
  constexpr size_t header_bytes = kShardHeaderInts * sizeof(int32_t);
  const std::string where = "data shard " + path;
  const std::string hint =
      " HINT: is this an llm.c token shard (.bin written by its dev/data preprocessing)?"
      " If the encoding changed, re-run the preprocessing.";
  if (file.size() < header_bytes)
    throw DataError(where + " is " + std::to_string(file.size()) + " bytes, smaller than the " +
                    std::to_string(header_bytes) + "-byte header." + hint);
  int32_t header[3];
  std::memcpy(header, file.data(), sizeof header);
  if (header[0] != kShardMagic)
    throw DataError(where + ": bad magic " + std::to_string(header[0]) + " (expected " +
                    std::to_string(kShardMagic) + ")." + hint);
  if (header[1] != kShardVersion)
    throw DataError(where + ": unsupported version " + std::to_string(header[1]) + " (expected " +
                    std::to_string(kShardVersion) + ", uint16 tokens)." + hint);
  const int64_t ntokens = header[2];
  const int64_t expected = static_cast<int64_t>(header_bytes) + 2 * ntokens;
  if (ntokens < 0 || static_cast<int64_t>(file.size()) != expected)
    throw DataError(where + ": header says " + std::to_string(ntokens) + " tokens (file size " +
                    std::to_string(expected) + " bytes) but the file is " +
                    std::to_string(file.size()) +
                    " bytes. HINT: was the file truncated or is it still being written?");
  return {std::move(file), header_bytes, 2, 0, ntokens};
}

}  // namespace

FileSource::FileSource(std::string spec, std::vector<Segment> segments, int vocab_size)
    : spec_(std::move(spec)), segments_(std::move(segments)), vocab_(vocab_size) {
  for (Segment& s : segments_) {
    s.first_token = ntokens_;
    ntokens_ += s.ntokens;
    int64_t bad = find_out_of_vocab(s, vocab_);
    if (bad < 0) continue;
    std::string hint = s.token_bytes == 1
                           ? " HINT: text sources are raw bytes (vocab 256); set model.vocab_size >= 256."
                           : " HINT: were these shards tokenized for a larger vocabulary?";
    throw DataError("data file " + s.file.path() + ": token id " +
                    std::to_string(token_at(s, bad)) + " at token offset " + std::to_string(bad) +
                    " (byte offset " +
                    std::to_string(s.header_bytes + static_cast<size_t>(bad) * s.token_bytes) +
                    ") is >= model.vocab_size = " + std::to_string(vocab_) + "." + hint);
  }
}

void FileSource::read(int64_t pos, int64_t n, int32_t* out) const {
  SY_ASSERT(pos >= 0 && n >= 0 && pos + n <= ntokens_, "token range outside the stream");
  // The segment holding `pos`: the last one starting at or before it (skipping empty ones).
  auto it = std::upper_bound(segments_.begin(), segments_.end(), pos,
                             [](int64_t p, const Segment& s) { return p < s.first_token; });
  size_t seg = static_cast<size_t>(it - segments_.begin()) - 1;
  while (n > 0) {
    const Segment& s = segments_[seg];
    int64_t k = pos - s.first_token;
    int64_t take = std::min(n, s.ntokens - k);
    for (int64_t j = 0; j < take; ++j) out[j] = token_at(s, k + j);
    out += take;
    pos += take;
    n -= take;
    ++seg;
  }
}

void FileSource::training_sequences(uint64_t seed, int64_t step, int64_t first_global_index,
                                    int64_t count, int64_t seq_len, int32_t* out) const {
  validate(seq_len);
  const uint64_t starts = static_cast<uint64_t>(ntokens_ - seq_len);  // offsets 0 .. ntokens-seq_len-1
  for (int64_t i = 0; i < count; ++i) {
    Rng rng = sample_rng(seed, step, first_global_index + i);
    read(static_cast<int64_t>(rng.below(starts)), seq_len + 1, out + i * (seq_len + 1));
  }
}

int64_t FileSource::num_windows(int64_t seq_len) const {
  validate(seq_len);
  return (ntokens_ - 1) / seq_len;
}

void FileSource::window(int64_t i, int64_t seq_len, int32_t* out) const {
  SY_ASSERT(i >= 0 && i < num_windows(seq_len), "eval window index out of range");
  read(i * seq_len, seq_len + 1, out);
}

void FileSource::validate(int64_t seq_len) const {
  SY_ASSERT(seq_len > 0, "seq_len must be positive");
  if (ntokens_ < seq_len + 1)
    throw DataError("data.source " + spec_ + " holds " + std::to_string(ntokens_) +
                    " tokens, fewer than one sequence of seq_len + 1 = " +
                    std::to_string(seq_len + 1));
}

std::string FileSource::describe() const {
  return spec_ + " (" + std::to_string(segments_.size()) +
         (segments_.size() == 1 ? " file, " : " files, ") + std::to_string(ntokens_) + " tokens)";
}

std::unique_ptr<FileSource> make_text_source(const std::string& path, int vocab_size) {
  MappedFile file(path);
  const auto n = static_cast<int64_t>(file.size());
  std::vector<FileSource::Segment> segs;
  segs.push_back({std::move(file), 0, 1, 0, n});
  return std::make_unique<FileSource>("text:" + path, std::move(segs), vocab_size);
}

std::unique_ptr<FileSource> make_shard_source(const std::string& pattern, int vocab_size) {
  GlobGuard g;
  int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g.g);
  if (rc == GLOB_NOMATCH)
    throw DataError("data.source shards:" + pattern + " matched no files");
  if (rc != 0)
    throw DataError("data.source shards:" + pattern + ": cannot read the directories it names");
  std::vector<FileSource::Segment> segs;
  for (size_t i = 0; i < g.g.gl_pathc; ++i) segs.push_back(load_shard(g.g.gl_pathv[i]));  // glob sorts
  return std::make_unique<FileSource>("shards:" + pattern, std::move(segs), vocab_size);
}

}  // namespace sy
