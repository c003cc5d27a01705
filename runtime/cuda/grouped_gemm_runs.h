// runtime/cuda/grouped_gemm_runs.h — splits a grouped GEMM into runs that one strided-batched
// cuBLASLt call can do (pure host logic, tested on the CPU).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/ops/core_ops.h"

namespace sy {

// Items [first, first + count) share M, N, K and leading dimensions, and item
// first + i reads A + i·stride_a, B + i·stride_b and writes C + i·stride_c
// (element strides; A and B may repeat with stride 0, C never does).
struct GemmRun {
  int64_t first = 0, count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

namespace detail {
// p − q in elements of T when both are aligned to T (addresses, not array
// arithmetic: the items may point into different allocations); false otherwise.
template <class T>
bool element_delta(const T* p, const T* q, int64_t* out) {
  const auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(q);
  const int64_t bytes = a >= b ? int64_t(a - b) : -int64_t(b - a);
  if (bytes % int64_t(sizeof(T)) != 0) return false;
  *out = bytes / int64_t(sizeof(T));
  return true;
}
}  // namespace detail

// Greedy left to right: a run grows while the next item has the same shape and
// continues the strides set by the run's first two items.  Every item lands in
// exactly one run, in order; strides are non-negative.
template <class T>
std::vector<GemmRun> grouped_gemm_runs(const GemmGroupItem<T>* items, int64_t count) {
  std::vector<GemmRun> runs;
  auto same_shape = [](const GemmGroupItem<T>& x, const GemmGroupItem<T>& y) {
    return x.M == y.M && x.N == y.N && x.K == y.K && x.lda == y.lda && x.ldb == y.ldb && x.ldc == y.ldc;
  };
  for (int64_t i = 0; i < count;) {
    GemmRun run;
    run.first = i;
    int64_t j = i + 1;
    if (j < count && same_shape(items[i], items[j])) {
      int64_t sa = 0, sb = 0, sc = 0;
      const bool ok = detail::element_delta(items[j].A, items[i].A, &sa) &&
                      detail::element_delta(items[j].B, items[i].B, &sb) &&
                      detail::element_delta(items[j].C, items[i].C, &sc);
      if (ok && sa >= 0 && sb >= 0 && sc > 0) {
        run.stride_a = sa, run.stride_b = sb, run.stride_c = sc;
        for (; j < count && same_shape(items[i], items[j]); ++j) {
          const int64_t n = j - i;
          int64_t da = 0, db = 0, dc = 0;
          if (!detail::element_delta(items[j].A, items[i].A, &da) || !detail::element_delta(items[j].B, items[i].B, &db) ||
              !detail::element_delta(items[j].C, items[i].C, &dc) || da != n * sa || db != n * sb || dc != n * sc)
            break;
        }
      } else {
        j = i + 1;
      }
    }
    run.count = j - i;
    runs.push_back(run);
    i = j;
  }
  return runs;
}

}  // namespace sy
