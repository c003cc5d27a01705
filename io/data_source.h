// io/data_source.h — DataSource: training sequences and eval windows from synthetic data, text or llm.c shards.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/rng.h"

namespace sy {

// A source of token ids, all < vocab_size().
//
// Training data (DESIGN.md §4): sequence `g` of step `s` is a pure function of
// (seed, s, g) — never of the world size or rank — so rank r of W with
// micro-batch B asks for global indices [step_offset + r·B, ... + B) and any
// W slices the same global batch, and a resumed run sees the same samples.
//
// Eval data (DESIGN.md §3): the source read sequentially; window i holds tokens
// [i·T, i·T + T] (T + 1 tokens, inputs and shifted targets), consecutive
// windows sharing one token.
//
// Every layout is `seq_len + 1` int32 tokens per sequence: the model reads
// tokens [0, T) as input and [1, T] as targets.
class DataSource {
 public:
  virtual ~DataSource() = default;

  // Exclusive bound on every token id produced: the model vocab the source was
  // built (and, for files, checked) against.
  virtual int vocab_size() const = 0;

  // Fills `count` rows of `seq_len + 1` tokens into out[count·(seq_len+1)];
  // row i is global sample `first_global_index + i` of `step`.
  virtual void training_sequences(uint64_t seed, int64_t step, int64_t first_global_index,
                                  int64_t count, int64_t seq_len, int32_t* out) const = 0;

  // Number of full eval windows of length seq_len: floor((ntokens - 1) / seq_len).
  virtual int64_t num_windows(int64_t seq_len) const = 0;
  // Fills out[seq_len + 1] with window i, 0 <= i < num_windows(seq_len).
  virtual void window(int64_t i, int64_t seq_len, int32_t* out) const = 0;

  // Throws DataError when the source cannot supply one sequence of seq_len + 1
  // tokens.  The other methods check this too; call it early to fail before work.
  virtual void validate(int64_t seq_len) const = 0;

  // One line for logs, e.g. "shards:data/*.bin (3 files, 1200000 tokens)".
  virtual std::string describe() const = 0;

  // The lowest expected per-token cross-entropy (nats) any model can reach on
  // this source's targets, when it is known exactly (synthetic source only).
  virtual std::optional<double> achievable_loss() const { return std::nullopt; }
};

// Seed for the synthetic chain and its held-out stream; kept independent of
// train.seed so runs with different training seeds share one task.
inline constexpr uint64_t kDefaultSourceSeed = 0x5eedda7a;

// `spec` is the value of data.source: "synthetic", "text:PATH" or "shards:GLOB".
// `vocab_size` is model.vocab_size.  `source_seed` selects the synthetic chain
// (file sources ignore it).  Unknown spec → ConfigError naming data.source;
// unreadable or malformed files → DataError naming the file.
std::unique_ptr<DataSource> make_data_source(const std::string& spec, int vocab_size,
                                             uint64_t source_seed = kDefaultSourceSeed);

// The counter-based stream that draws training sample `global_index` of
// `step`: every source keys its randomness here so data order depends on
// (seed, step, global index) only.
inline Rng sample_rng(uint64_t seed, int64_t step, int64_t global_index) {
  constexpr uint64_t kDataDomain = fnv1a("switchyard/data");
  return Rng(mix64(seed ^ kDataDomain, static_cast<uint64_t>(step)),
             static_cast<uint64_t>(global_index));
}

}  // namespace sy
