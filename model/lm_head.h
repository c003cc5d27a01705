// model/lm_head.h — LmHead<T>: logits = h · Woutᵀ and the cross-entropy, row chunk by row chunk.
#pragma once

#include <algorithm>

#include "model/linear.h"
#include "runtime/config.h"

namespace sy {

// Wout is the token table when `tie_embeddings`, else `decoder/output_projection/weight`
// [V, d] (N(0, 0.02), weight decay).  The loss paths process `chunk_rows` rows at a
// time through one reused [chunk_rows, V] buffer, so the full [N, V] logits never exist.
// By default a chunk holds kChunkBytes of fp32 logits: bigger chunks run the three
// GEMMs faster (bench/lm_head, V = 8192, 2 threads: 256 rows 78, 1024 rows 128 GFLOP/s).
template <class T>
class LmHead {
 public:
  static constexpr int64_t kChunkBytes = int64_t(32) << 20;
  static constexpr int64_t kMinChunkRows = 64;
  // Rows per chunk for a vocabulary of `vocab` when none are given (1024 at V = 8192).
  static constexpr int64_t default_chunk_rows(int64_t vocab) {
    return std::max(kMinChunkRows, kChunkBytes / (int64_t(sizeof(float)) * vocab));
  }

  LmHead() = default;
  // chunk_rows ≤ 0: default_chunk_rows(cfg.vocab_size).
  LmHead(ParameterSet<T>& params, const ModelConfig& cfg, Parameter<T>* token_table, int64_t chunk_rows = 0);

  // Returns Σ_n CE(h[n]·Woutᵀ, targets[n]) over the N rows of h [N, d].  When dh is
  // non-null, writes dh [N, d] (overwritten) and accumulates dWout, both for the loss
  // grad_scale · Σ CE; with dh null no gradient is touched.
  double forward_backward(const Backend<T>& be, const T* h, const int32_t* targets, int64_t N, T grad_scale,
                          T* dh);
  // Σ CE without gradients (eval).
  double forward_loss(const Backend<T>& be, const T* h, const int32_t* targets, int64_t N);
  // out [N, V] = h · Woutᵀ (generation).
  void logits(const Backend<T>& be, const T* h, int64_t N, T* out) const;

  Parameter<T>* output_weight() const { return proj_.weight(); }
  bool tied() const { return tied_; }
  int64_t chunk_rows() const { return chunk_rows_; }
  void set_chunk_rows(int64_t rows);

 private:
  bool tied_ = true;
  int64_t chunk_rows_ = kMinChunkRows;
  Linear<T> proj_;          // no bias; weight is Wout
  Tensor<T> chunk_logits_;  // [chunk_rows, V], reused; holds dlogits after the in-place cross-entropy
};

}  // namespace sy
