// runtime/cpu/cpu_attention_ops.h — CpuAttentionOps<T>: RoPE and blocked (flash-style) causal GQA attention on the host.
#pragma once
#include "runtime/ops/attention_ops.h"

namespace sy {

// The instruction set and layout of the float tile products.  `best` is the
// widest this CPU runs: AVX-512 (16-float vectors, 4-row groups), else AVX2
// (8-float vectors, 6-row groups), else portable C++.  The others are for tests
// and benchmarks; `avx512_layout_on_avx2` runs AVX-512's layout (its column
// strips, row groups and mask trimming) in AVX2 instructions, so that layout is
// checked on CPUs without AVX-512 (slowly: its accumulators spill).  double
// always runs the portable loops.
enum class AttentionTiles { best, avx512, avx2, avx512_layout_on_avx2, portable };
bool cpu_runs(AttentionTiles tiles);

// Attention walks query blocks × key blocks with an online softmax, so memory is
// O(S·D) per kv head, never S×S; the backward recomputes probabilities from lse.
// Single-threaded: the runtime runs one rank per core.
template <class T>
class CpuAttentionOps final : public AttentionOps<T> {
 public:
  // Query rows and keys per tile.  The defaults keep a tile's keys (transposed)
  // and values in L1/L2; tests pass tiny blocks so short sequences span many.
  // `tiles` must be one cpu_runs() accepts.
  explicit CpuAttentionOps(int64_t block_q = 32, int64_t block_k = 64, AttentionTiles tiles = AttentionTiles::best);

  void rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x) const override;
  void rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* dx) const override;
  void attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                         const T* v, T* out, T* lse) const override;
  void attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                          const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk,
                          T* dv) const override;

 private:
  int64_t block_q_, block_k_;
  AttentionTiles tiles_;  // resolved: never `best`
};

}  // namespace sy
