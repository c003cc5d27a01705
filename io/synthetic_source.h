// io/synthetic_source.h — SyntheticSource: a fixed random Markov chain whose achievable loss is known exactly.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/data_source.h"

namespace sy {

// The task: a first-order Markov chain over V = vocab_size tokens.  Token a has
// K = 4 distinct successors s_0(a) .. s_3(a), drawn once from `source_seed`,
// taken with the same probabilities p = (0.55, 0.25, 0.15, 0.05) in every row.
// A sequence starts at a uniformly random token x_0 and walks the chain:
// x_{t+1} ~ P(x_t, ·).
//
// Achievable loss, exactly.  The targets are x_1 .. x_T, each with a
// predecessor inside the sequence.  The chain is first order, so the best
// prediction of x_t from x_0..x_{t-1} is the row P(x_{t-1}, ·), and no model can
// have lower expected cross-entropy than that row's entropy.  Every row is a
// permutation of the same p, so that entropy is H(p) = −Σ_j p_j ln p_j for every
// value of x_{t-1}: the expected optimal CE is H(p) at every position whatever
// the distribution of x_{t-1} — no stationary distribution enters.
// H(p) ≈ 1.1097 nats against ln 256 ≈ 5.545 for a uniform guess.
//
// Held-out data: one walk of kHeldOutTokens tokens from a key derived from
// source_seed (not from train.seed), read sequentially as eval windows.
class SyntheticSource final : public DataSource {
 public:
  static constexpr int kSuccessors = 4;
  static constexpr std::array<double, kSuccessors> kProbs = {0.55, 0.25, 0.15, 0.05};
  static constexpr int64_t kHeldOutTokens = int64_t{1} << 16;

  // vocab_size < kSuccessors → ConfigError naming model.vocab_size.
  SyntheticSource(int vocab_size, uint64_t source_seed);

  int vocab_size() const override { return vocab_; }
  void training_sequences(uint64_t seed, int64_t step, int64_t first_global_index, int64_t count,
                          int64_t seq_len, int32_t* out) const override;
  int64_t num_windows(int64_t seq_len) const override;
  void window(int64_t i, int64_t seq_len, int32_t* out) const override;
  void validate(int64_t seq_len) const override;
  std::string describe() const override;
  std::optional<double> achievable_loss() const override { return entropy_; }

  // The kSuccessors successors of `token`, in the order of kProbs.
  std::span<const int32_t> successors(int32_t token) const;
  // ln P(next | prev) under the chain; -infinity when next is not a successor.
  double log_prob(int32_t prev, int32_t next) const;

 private:
  // Walks `n` tokens into out: out[0] uniform, then the chain.
  void walk(Rng& rng, int64_t n, int32_t* out) const;

  int vocab_;
  double entropy_;
  std::vector<int32_t> successors_;  // [vocab, kSuccessors]
  std::vector<int32_t> held_out_;    // [kHeldOutTokens]
};

}  // namespace sy
