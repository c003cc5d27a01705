// runtime/cpu/cpu_nn_ops.cpp — CpuNnOps<T>: activations (exact GELU, ReLU, SwiGLU), norms, embeddings, cross-entropy.
#include "runtime/cpu/cpu_nn_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/error.h"

namespace sy {

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// Row reductions accumulate in double with four independent partial sums: float
// rows of a few thousand values lose no accuracy, and the partial sums keep the
// loop from serialising on one add chain (GCC does not reorder FP reductions).
template <class T, class F>
double row_sum(int64_t n, F term) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += double(term(i));
    s1 += double(term(i + 1));
    s2 += double(term(i + 2));
    s3 += double(term(i + 3));
  }
  for (; i < n; ++i) s0 += double(term(i));
  return (s0 + s1) + (s2 + s3);
}
}  // namespace

// ---- embeddings and positions ----------------------------------------------

template <class T>
void CpuNnOps<T>::embedding_forward(int64_t N, int64_t d, const int32_t* ids, const T* table, T scale,
                                    T* out) const {
  for (int64_t n = 0; n < N; ++n) {
    const T* row = table + int64_t(ids[n]) * d;
    T* o = out + n * d;
    for (int64_t i = 0; i < d; ++i) o[i] = scale * row[i];
  }
}

template <class T>
void CpuNnOps<T>::embedding_backward(int64_t N, int64_t d, const int32_t* ids, const T* dout, T scale,
                                     T* dtable) const {
  // Serial over n: repeated ids accumulate into the same row.
  for (int64_t n = 0; n < N; ++n) {
    T* row = dtable + int64_t(ids[n]) * d;
    const T* g = dout + n * d;
    for (int64_t i = 0; i < d; ++i) row[i] += scale * g[i];
  }
}

template <class T>
void CpuNnOps<T>::add_positions(int64_t B, int64_t T_, int64_t d, const T* table, int64_t offset, T* h) const {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T_; ++t) {
      const T* pe = table + (t + offset) * d;
      T* hr = h + (b * T_ + t) * d;
      for (int64_t i = 0; i < d; ++i) hr[i] += pe[i];
    }
}

template <class T>
void CpuNnOps<T>::positions_backward(int64_t B, int64_t T_, int64_t d, const T* dh, int64_t offset,
                                     T* dtable) const {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T_; ++t) {
      T* row = dtable + (t + offset) * d;
      const T* g = dh + (b * T_ + t) * d;
      for (int64_t i = 0; i < d; ++i) row[i] += g[i];
    }
}

// ---- norms ------------------------------------------------------------------
// Statistics are computed in double (two passes for the variance, which stays
// accurate when |mean| ≫ std) and stored as T.  In the backward kernels every
// element of x and dy is read before dx at the same index is written, so dx may
// alias dy (or x).

template <class T>
void CpuNnOps<T>::layernorm_forward(int64_t N, int64_t d, const T* x, const T* w, const T* b, double eps, T* y,
                                    T* mean, T* rstd) const {
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    T* yr = y + n * d;
    const double mu = row_sum<T>(d, [&](int64_t i) { return xr[i]; }) / double(d);
    const double var = row_sum<T>(d, [&](int64_t i) { return (double(xr[i]) - mu) * (double(xr[i]) - mu); }) /
                       double(d);
    const double rs = 1.0 / std::sqrt(var + eps);
    mean[n] = T(mu);
    rstd[n] = T(rs);
    const T m = T(mu), r = T(rs);
    for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * r * w[i] + b[i];
  }
}

template <class T>
void CpuNnOps<T>::layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd,
                                     const T* dy, T* dx, T* dw, T* db) const {
  // With x̂ = (x − μ)·r and g = dy ⊙ w:  dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    const T* dyr = dy + n * d;
    T* dxr = dx + n * d;
    const T m = mean[n], r = rstd[n];
    const double g_mean = row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i]; }) / double(d);
    const double gx_mean = row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i] * ((xr[i] - m) * r); }) / double(d);
    const T gm = T(g_mean), gxm = T(gx_mean);
    // Two loops with fewer output streams each vectorise (one loop with three did not).
    for (int64_t i = 0; i < d; ++i) {
      dw[i] += dyr[i] * ((xr[i] - m) * r);
      db[i] += dyr[i];
    }
    for (int64_t i = 0; i < d; ++i) dxr[i] = r * (dyr[i] * w[i] - gm - (xr[i] - m) * r * gxm);
  }
}

template <class T>
void CpuNnOps<T>::rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const {
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    T* yr = y + n * d;
    const double ms = row_sum<T>(d, [&](int64_t i) { return double(xr[i]) * double(xr[i]); }) / double(d);
    const T r = T(1.0 / std::sqrt(ms + eps));
    rstd[n] = r;
    for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * r * w[i];
  }
}

template <class T>
void CpuNnOps<T>::rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                                   T* dw) const {
  // With g = dy ⊙ w:  dx = r·g − x · r³ · mean(g ⊙ x).
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    const T* dyr = dy + n * d;
    T* dxr = dx + n * d;
    const T r = rstd[n];
    const double gx_mean = row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i] * xr[i]; }) / double(d);
    const T c = T(gx_mean * double(r) * double(r) * double(r));
    for (int64_t i = 0; i < d; ++i) {
      const T g = dyr[i];
      dw[i] += g * xr[i] * r;
      dxr[i] = r * g * w[i] - xr[i] * c;
    }
  }
}

template <class T>
void CpuNnOps<T>::gelu_forward(int64_t n, const T* x, T* y) const {
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * T(kInvSqrt2)));
}

template <class T>
void CpuNnOps<T>::gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  // d/dx x·Φ(x) = Φ(x) + x·φ(x)
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

template <class T>
void CpuNnOps<T>::relu_forward(int64_t n, const T* x, T* y) const {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <class T>
void CpuNnOps<T>::relu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <class T>
void CpuNnOps<T>::swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const {
  for (int64_t i = 0; i < n; ++i) {
    const T sig = T(1) / (T(1) + std::exp(-gate[i]));
    y[i] = gate[i] * sig * up[i];
  }
}

template <class T>
void CpuNnOps<T>::swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const {
  // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
  // Inputs are read before outputs are written, so dgate may alias gate and dup may alias up.
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], u = up[i], d = dy[i];
    const T sig = T(1) / (T(1) + std::exp(-g));
    dup[i] = d * g * sig;
    dgate[i] = d * u * sig * (T(1) + g * (T(1) - sig));
  }
}

// ---- cross-entropy ------------------------------------------------------------

template <class T>
double CpuNnOps<T>::cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                                  T* dlogits) const {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* z = logits + n * V;
    const int64_t t = targets[n];
    SY_ASSERT(t >= 0 && t < V, "cross_entropy: target " + std::to_string(t) + " outside [0, " +
                                   std::to_string(V) + ")");
    const T zmax = *std::max_element(z, z + V);
    const double z_target = double(z[t]);  // read before an in-place dlogits overwrites it
    double sum;
    if (dlogits) {
      // One exp per element: store exp(z − max) in dlogits, then normalise in place.
      T* g = dlogits + n * V;
      for (int64_t j = 0; j < V; ++j) g[j] = std::exp(z[j] - zmax);
      sum = row_sum<T>(V, [&](int64_t j) { return g[j]; });
      const T factor = T(double(grad_scale) / sum);
      for (int64_t j = 0; j < V; ++j) g[j] *= factor;
      g[t] -= grad_scale;
    } else {
      sum = row_sum<T>(V, [&](int64_t j) { return std::exp(z[j] - zmax); });
    }
    // CE = logsumexp(z) − z_t = max + log Σ exp(z − max) − z_t
    total += double(zmax) + std::log(sum) - z_target;
  }
  return total;
}

template class CpuNnOps<float>;
template class CpuNnOps<double>;

}  // namespace sy
