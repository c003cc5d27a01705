// model/embedding.h — Embedding<T>: token embedding (optionally × √d_model) plus learned or sinusoidal positions.
#pragma once

#include "model/step_context.h"
#include "runtime/backend.h"
#include "runtime/config.h"
#include "runtime/parameters.h"

namespace sy {

// h[b·T + t, :] = s · embed_tokens[ids[b·T + t], :] + PE[t + position_offset, :]
//   s  = √d_model when `scale_embeddings`, else 1;
//   PE = `decoder/embed_positions/weight` [max_seq_len + position_offset, d] (learned),
//        a fixed table (sinusoidal, fairseq's formula; not a parameter, never checkpointed),
//        or nothing (rope: attention rotates q and k).
// Initialisation: N(0, 0.02) for the tables (GPT-2); with `scale_embeddings`
// N(0, d^-0.5) as fairseq does, so that s·embed has unit scale.
template <class T>
class Embedding {
 public:
  Embedding() = default;
  Embedding(ParameterSet<T>& params, const ModelConfig& cfg);

  // h [ctx.batch · ctx.seq_len, d] overwritten.  Throws DataError for an id outside
  // [0, vocab_size) and ConfigError when seq_len + position_offset exceeds the position table.
  void forward(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, T* h) const;
  // Accumulates the token-table (and learned position-table) gradients from dh.
  void backward(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, const T* dh) const;

  Parameter<T>* token_table() const { return tokens_; }
  Parameter<T>* position_table() const { return positions_; }  // null unless learned
  const Tensor<T>& sinusoidal_table() const { return sinusoidal_; }  // empty unless sinusoidal
  T scale() const { return scale_; }

 private:
  int64_t vocab_ = 0, d_ = 0, offset_ = 0, max_seq_len_ = 0;
  Positions kind_ = Positions::learned;
  T scale_ = T(1);
  Parameter<T>* tokens_ = nullptr;
  Parameter<T>* positions_ = nullptr;
  Tensor<T> sinusoidal_;
};

// fairseq's SinusoidalPositionalEmbedding table, rows = positions 0..rows-1 (computed in double).
template <class T>
Tensor<T> sinusoidal_positions(int64_t rows, int64_t d);

}  // namespace sy
