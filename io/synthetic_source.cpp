// io/synthetic_source.cpp — SyntheticSource: chain construction, walks, eval windows.
#include "io/synthetic_source.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/error.h"

namespace sy {
namespace {

constexpr uint64_t kChainDomain = fnv1a("switchyard/synthetic/chain");
constexpr uint64_t kHeldOutDomain = fnv1a("switchyard/synthetic/held-out");

}  // namespace

SyntheticSource::SyntheticSource(int vocab_size, uint64_t source_seed)
    : vocab_(vocab_size) {
  if (vocab_size < kSuccessors)
    throw ConfigError("model.vocab_size = " + std::to_string(vocab_size) +
                      " is too small for data.source=synthetic (needs >= " +
                      std::to_string(kSuccessors) + ")");
  entropy_ = 0.0;
  for (double p : kProbs) entropy_ -= p * std::log(p);

  // Each row is keyed by its own token, so the chain is a function of
  // (source_seed, vocab_size) alone.
  successors_.resize(static_cast<size_t>(vocab_) * kSuccessors);
  for (int a = 0; a < vocab_; ++a) {
    Rng rng(source_seed ^ kChainDomain, static_cast<uint64_t>(a));
    int32_t* row = &successors_[static_cast<size_t>(a) * kSuccessors];
    for (int j = 0; j < kSuccessors; ++j) {
      int32_t s;
      do s = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab_)));
      while (std::find(row, row + j, s) != row + j);
      row[j] = s;
    }
  }

  held_out_.resize(kHeldOutTokens);
  Rng rng(source_seed ^ kHeldOutDomain, 0);
  walk(rng, kHeldOutTokens, held_out_.data());
}

void SyntheticSource::walk(Rng& rng, int64_t n, int32_t* out) const {
  int32_t x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab_)));
  for (int64_t t = 0; t < n; ++t) {
    out[t] = x;
    double u = rng.uniform(), cum = 0.0;
    int j = 0;
    // The last successor takes whatever rounding leaves of the unit interval.
    for (; j < kSuccessors - 1; ++j) {
      cum += kProbs[j];
      if (u < cum) break;
    }
    x = successors_[static_cast<size_t>(x) * kSuccessors + j];
  }
}

void SyntheticSource::training_sequences(uint64_t seed, int64_t step, int64_t first_global_index,
                                         int64_t count, int64_t seq_len, int32_t* out) const {
  validate(seq_len);
  for (int64_t i = 0; i < count; ++i) {
    Rng rng = sample_rng(seed, step, first_global_index + i);
    walk(rng, seq_len + 1, out + i * (seq_len + 1));
  }
}

int64_t SyntheticSource::num_windows(int64_t seq_len) const {
  validate(seq_len);
  return (kHeldOutTokens - 1) / seq_len;
}

void SyntheticSource::window(int64_t i, int64_t seq_len, int32_t* out) const {
  SY_ASSERT(i >= 0 && i < num_windows(seq_len), "eval window index out of range");
  std::copy_n(held_out_.data() + i * seq_len, seq_len + 1, out);
}

void SyntheticSource::validate(int64_t seq_len) const {
  SY_ASSERT(seq_len > 0, "seq_len must be positive");
  if (seq_len + 1 > kHeldOutTokens)
    throw DataError("data.source=synthetic: held-out stream has " + std::to_string(kHeldOutTokens) +
                    " tokens, fewer than one window of seq_len + 1 = " +
                    std::to_string(seq_len + 1));
}

std::string SyntheticSource::describe() const {
  return "synthetic (Markov chain, vocab " + std::to_string(vocab_) + ", " +
         std::to_string(kSuccessors) + " successors per token, achievable loss " +
         std::to_string(entropy_) + " nats)";
}

std::span<const int32_t> SyntheticSource::successors(int32_t token) const {
  SY_ASSERT(token >= 0 && token < vocab_, "token out of range");
  return {successors_.data() + static_cast<size_t>(token) * kSuccessors, kSuccessors};
}

double SyntheticSource::log_prob(int32_t prev, int32_t next) const {
  auto row = successors(prev);
  for (int j = 0; j < kSuccessors; ++j)
    if (row[j] == next) return std::log(kProbs[j]);
  return -std::numeric_limits<double>::infinity();
}

}  // namespace sy
