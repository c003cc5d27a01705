// runtime/cpu/cpu_core_ops.cpp — GEMM via oneDNN (float) or CBLAS (double), grouped GEMM, elementwise loops, AdamW.
#include "runtime/cpu/cpu_core_ops.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/error.h"

#include "runtime/cpu/cpu_math.h"
#include "runtime/cpu/cpu_parallel.h"

namespace sy {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Elementwise loops split into pieces of at least this many values across the loop threads.
constexpr int64_t kElementGrain = 1 << 15;

template <class T>
SY_CPU_CLONES void add_range(int64_t b, int64_t e, const T* a, const T* x, T* out) {
  for (int64_t i = b; i < e; ++i) out[i] = a[i] + x[i];
}

// Σ x² over [b, e) in double with 8 independent partial sums (vectorisable).
template <class T>
SY_CPU_CLONES double sum_squares_range(int64_t b, int64_t e, const T* x) {
  double s[8] = {};
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += double(x[i + j]) * double(x[i + j]);
  for (; i < e; ++i) s[0] += double(x[i]) * double(x[i]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <class T>
SY_CPU_CLONES void adamw_range(int64_t b, int64_t e, T* __restrict p, const T* __restrict g, T* __restrict m,
                               T* __restrict v, T b1, T b2, T gs, T step_size, T inv_sqrt_bc2, T teps, T decay) {
  for (int64_t i = b; i < e; ++i) {
    const T gi = g[i] * gs;
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= decay * p[i] + step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + teps);
  }
}

// OpenBLAS always runs single-threaded (set_cpu_threads): its pthreads pool
// spins in sched_yield for ~0.1 s after every threaded call, on the core an
// OpenMP thread needs for the next kernel (on the AMD machine: attention
// backward 130–165 → 98–103 ms/step when the pool could not spin).  A large
// GEMM is instead split into one block of C per loop thread — along M or N,
// whichever is longer — each a single-threaded call, run concurrently.
void split_sgemm(int threads, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  constexpr int64_t kAlign = 16;  // block edges on whole micro-kernel tiles
  const bool by_rows = M >= N;
  const int64_t len = by_rows ? M : N;
  const int parts = omp_in_parallel() ? 1 : int(std::clamp<int64_t>(len / (4 * kAlign), 1, threads));
#pragma omp parallel for schedule(static, 1) num_threads(parts) if (parts > 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t lo = len * p / parts / kAlign * kAlign;
    const int64_t hi = p + 1 == parts ? len : len * (p + 1) / parts / kAlign * kAlign;
    if (by_rows)  // rows [lo, hi) of C and of op(A)
      cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), hi - lo, N, K, alpha, ta ? A + lo : A + lo * lda, lda, B, ldb, beta,
                  C + lo * ldc, ldc);
    else  // columns [lo, hi) of C and of op(B)
      cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), M, hi - lo, K, alpha, A, lda, tb ? B + lo * ldb : B + lo, ldb, beta,
                  C + lo, ldc);
  }
}

}  // namespace

template <class T>
CpuCoreOps<T>::CpuCoreOps(Precision precision, int threads)
    : threads_(threads > 0 ? threads : omp_get_max_threads()) {
  if constexpr (std::is_same_v<T, float>) {
    dnnl_ = std::make_unique<DnnlGemm>(precision == Precision::bf16);
    blas_untransposed_b_ = precision == Precision::fp32 && !dnnl_has_avx512_kernels();
  } else if (precision == Precision::bf16) {
    throw ConfigError("train.precision = bf16 needs the float backend (this one computes in double)");
  }
}

// Without AVX-512, oneDNN 2.6 runs every f32 matmul through its own jit sgemm
// ("gemm:jit"), which on an AMD Zen 3 (AVX2) reached half of OpenBLAS's rate
// when B is read untransposed at the expert shapes: 256×2048×512 NN 31–34 vs
// 74–78 GFLOP/s at 1 thread, 73–78 vs 126 at 2 (bench/gemm_ceiling group.* rows,
// bench/RESULTS.md).  With B transposed (the forward x·Wᵀ) the two are even, and
// oneDNN is kept.  GEMMs below kSingleThreadFlops stay on oneDNN's
// single-threaded path (router).
template <class T>
bool CpuCoreOps<T>::use_blas(bool tb, int64_t M, int64_t N, int64_t K) const {
  return blas_untransposed_b_ && !tb && 2.0 * double(M) * double(N) * double(K) >= kSingleThreadFlops;
}

template <>
void CpuCoreOps<float>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const {
  if (use_blas(tb, M, N, K)) {
    if (M == 0 || N == 0) return;
    split_sgemm(threads_, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  dnnl_->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void CpuCoreOps<double>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) const {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Below this many FLOPs per item, a grouped call gives each thread whole items
// (one single-threaded GEMM each) instead of splitting every small GEMM over all
// threads.  Measured with bench/gemm_ceiling (grouped.* rows): see bench/RESULTS.md.
constexpr double kSmallItemFlops = 2.0 * 512 * 2048 * 512;

template <class T>
void CpuCoreOps<T>::gemm_grouped(bool ta, bool tb, T alpha, T beta, const GemmGroupItem<T>* items,
                                 int64_t count) const {
  double flops = 0;
  for (int64_t i = 0; i < count; ++i) flops += 2.0 * double(items[i].M) * double(items[i].N) * double(items[i].K);
  // Double (gradient checks) stays sequential.
  const bool by_item = std::is_same_v<T, float> && threads_ > 1 && count > 1 && !omp_in_parallel() &&
                       flops / double(count) < kSmallItemFlops;
  if (!by_item) {
    CoreOps<T>::gemm_grouped(ta, tb, alpha, beta, items, count);
    return;
  }
  // Largest items first: routing gives experts 0.5–1.5× the mean rows, and a
  // large item claimed last leaves the other threads idle while it runs.  Each
  // item is one single-threaded GEMM, so the order does not change any result.
  // The list is per thread and keeps its capacity (no allocation once grown).
  thread_local std::vector<std::pair<double, int64_t>> caller_order;
  // A reference: inside the parallel region the name of a thread_local would
  // mean the running thread's own (empty) instance.
  std::vector<std::pair<double, int64_t>>& order = caller_order;
  order.clear();
  for (int64_t i = 0; i < count; ++i)
    order.emplace_back(-2.0 * double(items[i].M) * double(items[i].N) * double(items[i].K), i);
  std::sort(order.begin(), order.end());
  // Inside the parallel region each gemm runs on its own thread only: DnnlGemm
  // and split_sgemm see omp_in_parallel().  OpenBLAS is single-threaded, and its
  // calls from several threads run concurrently (its buffer pool is locked).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
  for (int64_t k = 0; k < count; ++k) {
    const GemmGroupItem<T>& g = items[order[k].second];
    gemm(ta, tb, g.M, g.N, g.K, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C, g.ldc);
  }
}

template <class T>
void CpuCoreOps<T>::add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const {
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) yr[c] += bias[c];
  }
}

template <class T>
void CpuCoreOps<T>::bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const {
  for (int64_t r = 0; r < rows; ++r) {
    const T* dr = dy + r * cols;
    for (int64_t c = 0; c < cols; ++c) db[c] += dr[c];
  }
}

template <class T>
void CpuCoreOps<T>::axpy(int64_t n, T alpha, const T* x, T* y) const {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <class T>
void CpuCoreOps<T>::add(int64_t n, const T* a, const T* b, T* out) const {
  parallel_for(n, kElementGrain, [&](int64_t lo, int64_t hi) { add_range(lo, hi, a, b, out); }, kElementAlign);
}

template <class T>
void CpuCoreOps<T>::scale(int64_t n, T alpha, T* x) const {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

template <class T>
double CpuCoreOps<T>::sum_squares(int64_t n, const T* x) const {
  // Fixed pieces (not one per thread) summed in order: the result does not depend
  // on the thread count.  64 partial sums on the stack, no allocation.
  constexpr int64_t kMaxPieces = 64;
  const int64_t pieces = std::clamp<int64_t>(n / kElementGrain, 1, kMaxPieces);
  double partial[kMaxPieces] = {};
  parallel_for(pieces, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t q = pb; q < pe; ++q) partial[q] = sum_squares_range(n * q / pieces, n * (q + 1) / pieces, x);
  });
  double s = 0;
  for (int64_t q = 0; q < pieces; ++q) s += partial[q];
  return s;
}

template <class T>
void CpuCoreOps<T>::adamw(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2, double eps,
                          double wd, int64_t step, double grad_scale) const {
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  const T b1 = T(beta1), b2 = T(beta2), gs = T(grad_scale);
  const T step_size = T(lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), teps = T(eps), decay = T(lr * wd);
  if constexpr (std::is_same_v<T, float>) {
    Bf16WeightCache& cache = dnnl_->weights();
    Bf16WeightCache::Weight* w = dnnl_->bf16() ? cache.find(p) : nullptr;
    if (w && cache.has_copies(*w) && Bf16WeightCache::rows(*w) * Bf16WeightCache::cols(*w) == n) {
      // Row blocks of 64 (whole VNNI blocks of both copies, and multiples of
      // kElementAlign elements): each is updated, then re-rounded while it is
      // still in cache.
      const int64_t rows = Bf16WeightCache::rows(*w), cols = Bf16WeightCache::cols(*w), chunks = (rows + 63) / 64;
      parallel_for(chunks, std::max<int64_t>(1, kElementGrain / (64 * cols)), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t r0 = c * 64, r1 = std::min(rows, r0 + 64);
          adamw_range(r0 * cols, r1 * cols, p, g, m, v, b1, b2, gs, step_size, inv_sqrt_bc2, teps, decay);
          cache.refresh_rows(*w, r0, r1);
        }
      });
      cache.mark_fresh(*w);
      return;
    }
  }
  parallel_for(
      n, kElementGrain,
      [&](int64_t lo, int64_t hi) {
        adamw_range(lo, hi, p, g, m, v, b1, b2, gs, step_size, inv_sqrt_bc2, teps, decay);
      },
      kElementAlign);
}

template <class T>
void CpuCoreOps<T>::register_weight(const T* w, int64_t rows, int64_t cols) {
  if constexpr (std::is_same_v<T, float>) {
    if (dnnl_->bf16()) dnnl_->weights().add(w, rows, cols);
  }
  (void)w, (void)rows, (void)cols;
}

template <class T>
void CpuCoreOps<T>::weights_changed() {
  if constexpr (std::is_same_v<T, float>) dnnl_->weights().invalidate();
}

void set_cpu_threads(int threads) {
  openblas_set_num_threads(1);  // see split_sgemm
  set_dnnl_threads(threads);
}

template class CpuCoreOps<float>;
template class CpuCoreOps<double>;

}  // namespace sy
