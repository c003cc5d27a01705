// runtime/cpu/cpu_core_ops.cpp — GEMM via oneDNN (float) or CBLAS (double), grouped GEMM, elementwise loops, AdamW.
#include "runtime/cpu/cpu_core_ops.h"

#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <type_traits>

#include "runtime/error.h"

namespace sy {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

template <class T>
CpuCoreOps<T>::CpuCoreOps(Precision precision, int threads)
    : threads_(threads > 0 ? threads : omp_get_max_threads()) {
  if constexpr (std::is_same_v<T, float>) {
    dnnl_ = std::make_unique<DnnlGemm>(precision == Precision::bf16);
  } else if (precision == Precision::bf16) {
    throw ConfigError("train.precision = bf16 needs the float backend (this one computes in double)");
  }
}

template <>
void CpuCoreOps<float>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const {
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
  // Double (gradient checks) stays sequential: OpenBLAS is not called from several threads.
  const bool by_item = std::is_same_v<T, float> && threads_ > 1 && count > 1 && !omp_in_parallel() &&
                       flops / double(count) < kSmallItemFlops;
  if (!by_item) {
    CoreOps<T>::gemm_grouped(ta, tb, alpha, beta, items, count);
    return;
  }
  // Inside the parallel region each gemm runs on its own thread only (DnnlGemm).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
  for (int64_t i = 0; i < count; ++i) {
    const GemmGroupItem<T>& g = items[i];
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
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void CpuCoreOps<T>::scale(int64_t n, T alpha, T* x) const {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

template <class T>
double CpuCoreOps<T>::sum_squares(int64_t n, const T* x) const {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

template <class T>
void CpuCoreOps<T>::adamw(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2, double eps,
                          double wd, int64_t step, double grad_scale) const {
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  const T b1 = T(beta1), b2 = T(beta2), gs = T(grad_scale);
  const T step_size = T(lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), teps = T(eps), decay = T(lr * wd);
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i] * gs;
    m[i] = b1 * m[i] + (T(1) - b1) * gi;
    v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
    p[i] -= decay * p[i] + step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + teps);
  }
}

void set_cpu_threads(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
  set_dnnl_threads(threads);
}

template class CpuCoreOps<float>;
template class CpuCoreOps<double>;

}  // namespace sy
