// runtime/cpu/bf16_weight_cache.cpp — packed bf16 weight copies: lazy packing on use, row-range refresh from AdamW.
#include "runtime/cpu/bf16_weight_cache.h"

#include <cstdlib>

#include "runtime/cpu/bf16_pack.h"
#include "runtime/error.h"

namespace sy {

namespace {
struct FreeDeleter {
  void operator()(uint16_t* p) const { std::free(p); }
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

// One packed copy: op(B) = Wᵀ (trans, K = cols, N = rows) or W (K = rows, N = cols).
struct Layout {
  std::unique_ptr<uint16_t, FreeDeleter> data;
  int64_t elems = 0;
  std::atomic<uint64_t> epoch{0};  // the cache epoch its contents belong to; 0 = never packed
};

struct Bf16WeightCache::Weight {
  const float* w = nullptr;
  int64_t rows = 0, cols = 0;
  Layout layout[2];  // [0]: op(B) = Wᵀ, [1]: op(B) = W
  std::mutex mutex;  // serialises the first packing of a stale copy

  int64_t K(int l) const { return l == 0 ? cols : rows; }
  int64_t N(int l) const { return l == 0 ? rows : cols; }
};

Bf16WeightCache::Bf16WeightCache() = default;
Bf16WeightCache::~Bf16WeightCache() = default;

void Bf16WeightCache::add(const float* w, int64_t rows, int64_t cols) {
  auto e = std::make_unique<Weight>();
  e->w = w;
  e->rows = rows;
  e->cols = cols;
  // Allocated here, not on first use: an expert first routed to late in a run
  // must not allocate inside a step.  Pages of a copy never packed (a weight no
  // GEMM reads, like an untied input embedding) are never touched, so they
  // take no resident memory.
  for (int l = 0; l < 2; ++l) {
    Layout& lay = e->layout[l];
    lay.elems = ceil_div(e->K(l), 32) * 32 * ceil_div(e->N(l), 64) * 64;
    lay.data.reset(static_cast<uint16_t*>(std::aligned_alloc(64, ceil_div(lay.elems * 2, 64) * 64)));
    SY_ASSERT(lay.data, "out of memory for a bf16 weight copy");
  }
  weights_[w] = std::move(e);
}

Bf16WeightCache::Weight* Bf16WeightCache::find(const float* w) const {
  if (weights_.empty()) return nullptr;
  auto it = weights_.find(w);
  return it == weights_.end() ? nullptr : it->second.get();
}

const uint16_t* Bf16WeightCache::packed(const float* b, bool trans_b, int64_t K, int64_t N, int64_t ldb) const {
  Weight* w = find(b);
  if (!w || ldb != w->cols) return nullptr;
  const int l = trans_b ? 0 : 1;
  if (K != w->K(l) || N != w->N(l)) return nullptr;
  Layout& lay = w->layout[l];
  const uint64_t now = epoch_.load(std::memory_order_acquire);
  if (lay.epoch.load(std::memory_order_acquire) != now) {
    std::lock_guard<std::mutex> lock(w->mutex);
    if (lay.epoch.load(std::memory_order_acquire) != now) {
      pack_bf16_vnni(K, N, w->w, w->cols, trans_b, lay.data.get());
      lazy_packs_.fetch_add(1, std::memory_order_relaxed);
      lay.epoch.store(now, std::memory_order_release);
    }
  }
  return lay.data.get();
}

int64_t Bf16WeightCache::rows(const Weight& w) { return w.rows; }
int64_t Bf16WeightCache::cols(const Weight& w) { return w.cols; }

namespace {
bool in_use(const Layout& lay) { return lay.epoch.load(std::memory_order_acquire) != 0; }
}  // namespace

bool Bf16WeightCache::has_copies(const Weight& w) const { return in_use(w.layout[0]) || in_use(w.layout[1]); }

void Bf16WeightCache::refresh_rows(Weight& w, int64_t r0, int64_t r1) const {
  if (in_use(w.layout[0]))  // rows of W are N-columns of Wᵀ: N-blocks of 64
    pack_bf16_vnni_blocks(w.cols, w.rows, w.w, w.cols, true, w.layout[0].data.get(), 0, ceil_div(w.cols, 32), r0 / 64,
                          ceil_div(r1, 64));
  if (in_use(w.layout[1]))  // rows of W are K-rows of W: K-blocks of 32
    pack_bf16_vnni_blocks(w.rows, w.cols, w.w, w.cols, false, w.layout[1].data.get(), r0 / 32, ceil_div(r1, 32), 0,
                          ceil_div(w.cols, 64));
}

void Bf16WeightCache::mark_fresh(Weight& w) const {
  const uint64_t now = epoch_.load(std::memory_order_acquire);
  for (Layout& lay : w.layout)
    if (in_use(lay)) lay.epoch.store(now, std::memory_order_release);
}

int64_t Bf16WeightCache::bytes() const {
  int64_t b = 0;
  for (const auto& [ptr, w] : weights_)
    for (const Layout& lay : w->layout)
      b += lay.elems * 2;
  return b;
}

}  // namespace sy
