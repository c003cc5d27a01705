// runtime/cpu/bf16_weight_cache.h — Bf16WeightCache: bf16-rounded, VNNI-packed copies of GEMM weights, refreshed once per optimizer step.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sy {

// A weight changes once per optimizer step but is read by a GEMM in every
// forward and backward: rounding and packing it per GEMM call cost more than
// the bf16 matmul (bench/RESULTS.md).  This cache keeps, per registered weight
// W [rows, cols], two packed copies in oneDNN's "BA16a64b2a" layout
// (pack_bf16_vnni): op(B) = Wᵀ (the forward x·Wᵀ) and op(B) = W (the input
// gradient dY·W), allocated at registration and first packed on first use.
// CpuCoreOps::adamw re-rounds the rows it has just updated into the copies in
// use (refresh_rows), so after a step
// they are fresh without a second pass over the weight; any other change of
// a weight must be announced with invalidate(), after which a copy is
// repacked on its next use.
class Bf16WeightCache {
 public:
  struct Weight;

  Bf16WeightCache();
  ~Bf16WeightCache();
  Bf16WeightCache(const Bf16WeightCache&) = delete;
  Bf16WeightCache& operator=(const Bf16WeightCache&) = delete;

  // Registers W [rows, cols] (row-major, dense) at `w` and allocates its two
  // copies.  Not concurrent with any other call; registering the same pointer
  // again replaces it.
  void add(const float* w, int64_t rows, int64_t cols);

  // The packed op(B)[K, N] for a GEMM whose B operand is `b` with leading
  // dimension `ldb`, or nullptr when `b` is not a registered weight read whole
  // (then the caller packs it itself).  A stale copy is packed here (never
  // allocates).  Safe from several threads at once.
  const uint16_t* packed(const float* b, bool trans_b, int64_t K, int64_t N, int64_t ldb) const;

  // Every weight may have changed: every copy is repacked on its next use.
  void invalidate() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

  // The registered weight at `w` (nullptr if none), for the optimizer's fused refresh:
  // refresh_rows on disjoint row ranges (from several threads) that together
  // cover the weight, then mark_fresh.  r0 must be a multiple of 64, r1 one or `rows`.
  Weight* find(const float* w) const;
  bool has_copies(const Weight& w) const;  // any copy packed at least once (refresh_rows updates only those)
  static int64_t rows(const Weight& w);
  static int64_t cols(const Weight& w);
  void refresh_rows(Weight& w, int64_t r0, int64_t r1) const;
  void mark_fresh(Weight& w) const;

  // Bytes of the packed copies (allocated; resident only once packed).
  int64_t bytes() const;
  // Number of packings done by packed() (a test's evidence that copies are reused).
  int64_t lazy_packs() const { return lazy_packs_.load(std::memory_order_relaxed); }

 private:
  std::unordered_map<const float*, std::unique_ptr<Weight>> weights_;
  std::atomic<uint64_t> epoch_{1};
  mutable std::atomic<int64_t> lazy_packs_{0};
};

}  // namespace sy
