// runtime/cpu/cpu_nn_ops.cpp — CpuNnOps<T>: activations (exact GELU, ReLU, SwiGLU), norms, embeddings, cross-entropy.
#include "runtime/cpu/cpu_nn_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/cpu/cpu_math.h"
#include "runtime/cpu/cpu_parallel.h"
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

// Elementwise loops split into pieces of this many values across the loop threads.
constexpr int64_t kElementGrain = 1 << 15;
// Row loops: rows per piece at least enough for ~32k values.
inline int64_t row_grain(int64_t d) { return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(d, 1)); }

// The elementwise bodies, compiled per ISA (SY_CPU_CLONES), on [b, e).
template <class T>
SY_CPU_CLONES void gelu_fwd_range(int64_t b, int64_t e, const T* __restrict x, T* __restrict y) {
  for (int64_t i = b; i < e; ++i) y[i] = T(0.5) * x[i] * (T(1) + cpu_math::erf(x[i] * T(kInvSqrt2)));
}

template <class T>
SY_CPU_CLONES void gelu_bwd_range(int64_t b, int64_t e, const T* x, const T* dy, T* dx) {
  // d/dx x·Φ(x) = Φ(x) + x·φ(x).  dx may alias dy or x: each index is read before it is written.
  for (int64_t i = b; i < e; ++i) {
    const T xi = x[i];
    const T cdf = T(0.5) * (T(1) + cpu_math::erf(xi * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * cpu_math::exp(T(-0.5) * xi * xi);
    dx[i] = dy[i] * (cdf + xi * pdf);
  }
}

template <class T>
SY_CPU_CLONES void swiglu_fwd_range(int64_t b, int64_t e, const T* gate, const T* up, T* y) {
  for (int64_t i = b; i < e; ++i) {
    const T sig = T(1) / (T(1) + cpu_math::exp(-gate[i]));
    y[i] = gate[i] * sig * up[i];
  }
}

template <class T>
SY_CPU_CLONES void swiglu_bwd_range(int64_t b, int64_t e, const T* gate, const T* up, const T* dy, T* dgate,
                                    T* dup) {
  // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
  // Inputs are read before outputs are written, so dgate may alias gate and dup may alias up.
  for (int64_t i = b; i < e; ++i) {
    const T g = gate[i], u = up[i], d = dy[i];
    const T sig = T(1) / (T(1) + cpu_math::exp(-g));
    dup[i] = d * g * sig;
    dgate[i] = d * u * sig * (T(1) + g * (T(1) - sig));
  }
}

// exp(z − zmax) into g[0, V) (g may alias z); returns nothing, the caller sums.
template <class T>
SY_CPU_CLONES void exp_shifted(int64_t V, const T* z, T zmax, T* g) {
  for (int64_t j = 0; j < V; ++j) g[j] = cpu_math::exp(z[j] - zmax);
}

template <class T>
SY_CPU_CLONES T row_max(int64_t V, const T* z) {
  T m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0];
  int64_t j = 0;
  for (; j + 4 <= V; j += 4) {
    m0 = z[j] > m0 ? z[j] : m0;
    m1 = z[j + 1] > m1 ? z[j + 1] : m1;
    m2 = z[j + 2] > m2 ? z[j + 2] : m2;
    m3 = z[j + 3] > m3 ? z[j + 3] : m3;
  }
  for (; j < V; ++j) m0 = z[j] > m0 ? z[j] : m0;
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  return m2 > m0 ? m2 : m0;
}

template <class T>
SY_CPU_CLONES void scale_values(int64_t V, T factor, T* g) {
  for (int64_t j = 0; j < V; ++j) g[j] *= factor;
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
  parallel_for(N, row_grain(d), [&](int64_t nb, int64_t ne) {
  for (int64_t n = nb; n < ne; ++n) {
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
  });
}

template <class T>
void CpuNnOps<T>::layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd,
                                     const T* dy, T* dx, T* dw, T* db) const {
  // With x̂ = (x − μ)·r and g = dy ⊙ w:  dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
  // dw, db first, split by columns (every piece walks all rows in order, so the
  // sums do not depend on the thread count); then dx by rows — dx may alias dy.
  parallel_for(d, 64, [&](int64_t ib, int64_t ie) {
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * d;
      const T* dyr = dy + n * d;
      const T m = mean[n], r = rstd[n];
      for (int64_t i = ib; i < ie; ++i) {
        dw[i] += dyr[i] * ((xr[i] - m) * r);
        db[i] += dyr[i];
      }
    }
  });
  parallel_for(N, row_grain(d), [&](int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const T* xr = x + n * d;
      const T* dyr = dy + n * d;
      T* dxr = dx + n * d;
      const T m = mean[n], r = rstd[n];
      const double g_mean = row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i]; }) / double(d);
      const double gx_mean =
          row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i] * ((xr[i] - m) * r); }) / double(d);
      const T gm = T(g_mean), gxm = T(gx_mean);
      for (int64_t i = 0; i < d; ++i) dxr[i] = r * (dyr[i] * w[i] - gm - (xr[i] - m) * r * gxm);
    }
  });
}

template <class T>
void CpuNnOps<T>::rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const {
  parallel_for(N, row_grain(d), [&](int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const T* xr = x + n * d;
      T* yr = y + n * d;
      const double ms = row_sum<T>(d, [&](int64_t i) { return double(xr[i]) * double(xr[i]); }) / double(d);
      const T r = T(1.0 / std::sqrt(ms + eps));
      rstd[n] = r;
      for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * r * w[i];
    }
  });
}

template <class T>
void CpuNnOps<T>::rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                                   T* dw) const {
  // With g = dy ⊙ w:  dx = r·g − x · r³ · mean(g ⊙ x).  dw by columns, then dx by
  // rows (dx may alias dy), as in layernorm_backward.
  parallel_for(d, 64, [&](int64_t ib, int64_t ie) {
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * d;
      const T* dyr = dy + n * d;
      const T r = rstd[n];
      for (int64_t i = ib; i < ie; ++i) dw[i] += dyr[i] * xr[i] * r;
    }
  });
  parallel_for(N, row_grain(d), [&](int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const T* xr = x + n * d;
      const T* dyr = dy + n * d;
      T* dxr = dx + n * d;
      const T r = rstd[n];
      const double gx_mean = row_sum<T>(d, [&](int64_t i) { return dyr[i] * w[i] * xr[i]; }) / double(d);
      const T c = T(gx_mean * double(r) * double(r) * double(r));
      for (int64_t i = 0; i < d; ++i) dxr[i] = r * dyr[i] * w[i] - xr[i] * c;
    }
  });
}

template <class T>
void CpuNnOps<T>::gelu_forward(int64_t n, const T* x, T* y) const {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { gelu_fwd_range(b, e, x, y); }, kElementAlign);
}

template <class T>
void CpuNnOps<T>::gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { gelu_bwd_range(b, e, x, dy, dx); }, kElementAlign);
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
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { swiglu_fwd_range(b, e, gate, up, y); },
               kElementAlign);
}

template <class T>
void CpuNnOps<T>::swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const {
  parallel_for(
      n, kElementGrain, [&](int64_t b, int64_t e) { swiglu_bwd_range(b, e, gate, up, dy, dgate, dup); },
      kElementAlign);
}

// ---- cross-entropy ------------------------------------------------------------

template <class T>
double CpuNnOps<T>::cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                                  T* dlogits) const {
  for (int64_t n = 0; n < N; ++n)
    SY_ASSERT(targets[n] >= 0 && targets[n] < V, "cross_entropy: target " + std::to_string(targets[n]) +
                                                     " outside [0, " + std::to_string(V) + ")");
  // Rows in parallel; per-row losses are summed in row order afterwards, so the
  // total does not depend on the thread count.  Up to 64 pieces' partial sums
  // live on the stack (no allocation).
  constexpr int64_t kMaxPieces = 64;
  const int64_t pieces = std::min<int64_t>(kMaxPieces, std::max<int64_t>(1, N));
  double partial[kMaxPieces] = {};
  parallel_for(pieces, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t piece = pb; piece < pe; ++piece) {
      double total = 0;
      for (int64_t n = N * piece / pieces; n < N * (piece + 1) / pieces; ++n) {
        const T* z = logits + n * V;
        const int64_t t = targets[n];
        const T zmax = row_max(V, z);
        const double z_target = double(z[t]);  // read before an in-place dlogits overwrites it
        double sum;
        if (dlogits) {
          // One exp per element: store exp(z − max) in dlogits, then normalise in place.
          T* g = dlogits + n * V;
          exp_shifted(V, z, zmax, g);
          sum = row_sum<T>(V, [&](int64_t j) { return g[j]; });
          scale_values(V, T(double(grad_scale) / sum), g);
          g[t] -= grad_scale;
        } else {
          sum = row_sum<T>(V, [&](int64_t j) { return cpu_math::exp(z[j] - zmax); });
        }
        // CE = logsumexp(z) − z_t = max + log Σ exp(z − max) − z_t
        total += double(zmax) + std::log(sum) - z_target;
      }
      partial[piece] = total;
    }
  });
  double total = 0;
  for (int64_t p = 0; p < pieces; ++p) total += partial[p];
  return total;
}

template class CpuNnOps<float>;
template class CpuNnOps<double>;

}  // namespace sy
