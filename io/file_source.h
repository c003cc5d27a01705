// io/file_source.h — FileSource: text bytes or llm.c uint16 shards, memory-mapped and read as one token stream.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/data_source.h"
#include "io/mapped_file.h"

namespace sy {

// llm.c token shard header: 256 int32 = {magic, version, token count, unused...}.
inline constexpr int32_t kShardMagic = 20240520;
inline constexpr int32_t kShardVersion = 1;
inline constexpr int kShardHeaderInts = 256;

// One stream of tokens made of the token sections of one or more mapped files
// in order (text: the whole file, 1 byte per token; llm.c shards: after the
// 1024-byte header, 2 bytes per token, little-endian as llm.c writes them).
// A sequence may span a file boundary: the files are one stream.
//
// Training sample g of step s starts at an offset drawn uniformly from
// [0, ntokens − seq_len − 1] by sample_rng(seed, s, g).
class FileSource final : public DataSource {
 public:
  struct Segment {
    MappedFile file;
    size_t header_bytes;   // bytes before the first token
    int token_bytes;       // 1 (text) or 2 (uint16 shards)
    int64_t first_token;   // index of this segment's first token in the stream
    int64_t ntokens;
  };

  // `spec` is the data.source value, used in messages.  Every token id is
  // checked against vocab_size here, once (DataError naming file, index, value).
  FileSource(std::string spec, std::vector<Segment> segments, int vocab_size);

  int vocab_size() const override { return vocab_; }
  void training_sequences(uint64_t seed, int64_t step, int64_t first_global_index, int64_t count,
                          int64_t seq_len, int32_t* out) const override;
  int64_t num_windows(int64_t seq_len) const override;
  void window(int64_t i, int64_t seq_len, int32_t* out) const override;
  void validate(int64_t seq_len) const override;
  std::string describe() const override;

  int64_t num_tokens() const { return ntokens_; }
  // Copies stream tokens [pos, pos + n) into out.
  void read(int64_t pos, int64_t n, int32_t* out) const;

 private:
  std::string spec_;
  std::vector<Segment> segments_;
  int vocab_;
  int64_t ntokens_ = 0;
};

// data.source = text:PATH — raw bytes, one token per byte.
std::unique_ptr<FileSource> make_text_source(const std::string& path, int vocab_size);
// data.source = shards:GLOB — the files glob(3) matches, sorted, as one stream.
std::unique_ptr<FileSource> make_shard_source(const std::string& pattern, int vocab_size);

}  // namespace sy
