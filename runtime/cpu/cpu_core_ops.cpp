// runtime/cpu/cpu_core_ops.cpp — GEMM via CBLAS, elementwise loops, AdamW.
#include "runtime/cpu/cpu_core_ops.h"

#include <cblas.h>

#include <cmath>

namespace sy {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

template <>
void CpuCoreOps<float>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void CpuCoreOps<double>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) const {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
}

template class CpuCoreOps<float>;
template class CpuCoreOps<double>;

}  // namespace sy
