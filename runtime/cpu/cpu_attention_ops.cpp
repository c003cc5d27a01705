// runtime/cpu/cpu_attention_ops.cpp — RoPE tables and the blocked causal attention forward/backward loops.
#include "runtime/cpu/cpu_attention_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace sy {

namespace {

// cos/sin of t·θ_i for t < S, i < D/2, as [S, D/2].  Angles are formed in double:
// in float, t·θ_0 = t loses the low bits of the phase for long sequences.
template <class T>
void rope_tables(int64_t S, int64_t D, double theta, std::vector<T>& cos_t, std::vector<T>& sin_t) {
  SY_ASSERT(D % 2 == 0, "rope needs an even head size, got " + std::to_string(D));
  const int64_t half = D / 2;
  cos_t.resize(S * half);
  sin_t.resize(S * half);
  std::vector<double> freq(half);
  for (int64_t i = 0; i < half; ++i) freq[i] = std::pow(theta, -2.0 * double(i) / double(D));
  for (int64_t t = 0; t < S; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(t) * freq[i];
      cos_t[t * half + i] = static_cast<T>(std::cos(angle));
      sin_t[t * half + i] = static_cast<T>(std::sin(angle));
    }
}

// Rotates every [D] row of x[B, S, H, D] by +angle (sign = 1) or −angle (sign = −1).
template <class T>
void rope_apply(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x, T sign) {
  std::vector<T> cos_t, sin_t;
  rope_tables(S, D, theta, cos_t, sin_t);
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < S; ++t) {
      const T* c = cos_t.data() + t * half;
      const T* s = sin_t.data() + t * half;
      for (int64_t h = 0; h < H; ++h) {
        T* lo = x + ((b * S + t) * H + h) * D;
        T* hi = lo + half;
        for (int64_t i = 0; i < half; ++i) {
          const T x1 = lo[i], x2 = hi[i], si = sign * s[i];
          lo[i] = x1 * c[i] - x2 * si;
          hi[i] = x2 * c[i] + x1 * si;
        }
      }
    }
}

void check_heads(int64_t Hq, int64_t Hkv) {
  SY_ASSERT(Hkv > 0 && Hq % Hkv == 0,
            "query heads " + std::to_string(Hq) + " not a multiple of kv heads " + std::to_string(Hkv));
}

// dst[d·S + s] = src[((b·S + s)·H + g)·D + d]: one head's keys (or values) as [D, S],
// so a score row over a key block is a sum of contiguous, vectorisable axpys.
template <class T>
void pack_transposed(const T* src, int64_t b, int64_t g, int64_t S, int64_t H, int64_t D, T* dst) {
  for (int64_t s = 0; s < S; ++s) {
    const T* row = src + ((b * S + s) * H + g) * D;
    for (int64_t d = 0; d < D; ++d) dst[d * S + s] = row[d];
  }
}

// y[0, n) += a · x[0, n).  GCC's -O2 ("very cheap") vectoriser only takes a loop
// whose trip count is a visible multiple of the vector width and needs no alias
// checks: hence the 8-aligned body and restrict.  noinline because inlined copies
// lose that fact and stay scalar (measured: attention ~3× slower at -O2).
template <class T>
__attribute__((noinline)) void axpy_row(int64_t n, T a, const T* __restrict x, T* __restrict y) {
  const int64_t body = n & ~int64_t(7);
  for (int64_t i = 0; i < body; ++i) y[i] += a * x[i];
  for (int64_t i = body; i < n; ++i) y[i] += a * x[i];
}

// y[0, n) *= a, vectorised like axpy_row.
template <class T>
__attribute__((noinline)) void scale_row(int64_t n, T a, T* __restrict y) {
  const int64_t body = n & ~int64_t(7);
  for (int64_t i = 0; i < body; ++i) y[i] *= a;
  for (int64_t i = body; i < n; ++i) y[i] *= a;
}

// out[j] = alpha · Σ_d a[d] · bt[d·ld + j] for j < n.
template <class T>
void row_times_block(const T* a, const T* bt, int64_t ld, int64_t D, int64_t n, T alpha, T* out) {
  std::fill(out, out + n, T(0));
  for (int64_t d = 0; d < D; ++d) axpy_row(n, alpha * a[d], bt + d * ld, out);
}

}  // namespace

template <class T>
CpuAttentionOps<T>::CpuAttentionOps(int64_t block_q, int64_t block_k) : block_q_(block_q), block_k_(block_k) {
  SY_ASSERT(block_q > 0 && block_k > 0, "attention block sizes must be positive");
}

template <class T>
void CpuAttentionOps<T>::rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x) const {
  rope_apply(B, S, H, D, theta, x, T(1));
}

template <class T>
void CpuAttentionOps<T>::rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* dx) const {
  rope_apply(B, S, H, D, theta, dx, T(-1));
}

// Loop nest: (b, kv head g) → query head h of g's group → query block → key
// block up to the diagonal → query row.  A key block's transposed keys and its
// values stay in cache while every row of the query block uses them.
template <class T>
void CpuAttentionOps<T>::attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q,
                                           const T* k, const T* v, T* out, T* lse) const {
  check_heads(Hq, Hkv);
  if (B == 0 || S == 0) return;
  const int64_t G = Hq / Hkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(D)));
  const int64_t bq = std::min(block_q_, S), bk = std::min(block_k_, S);
  std::vector<T> kt(D * S), p(bk), acc(bq * D), row_max(bq), row_sum(bq);

  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < Hkv; ++g) {
      pack_transposed(k, b, g, S, Hkv, D, kt.data());
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          std::fill(row_max.begin(), row_max.end(), -std::numeric_limits<T>::infinity());
          std::fill(row_sum.begin(), row_sum.end(), T(0));
          std::fill(acc.begin(), acc.end(), T(0));
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            for (int64_t r = 0; r < nq; ++r) {
              const int64_t t = t0 + r;
              const int64_t n = std::min(nk, t + 1 - s0);  // causal: keys s ≤ t
              if (n <= 0) continue;
              const T* qr = q + ((b * S + t) * Hq + h) * D;
              T* ar = acc.data() + r * D;
              row_times_block(qr, kt.data() + s0, S, D, n, scale, p.data());
              // Online softmax: rescale what earlier key blocks accumulated to the new running max.
              const T m = std::max(row_max[r], *std::max_element(p.begin(), p.begin() + n));
              const T correction = std::exp(row_max[r] - m);
              if (correction != T(1)) {
                row_sum[r] *= correction;
                scale_row(D, correction, ar);
              }
              T sum = 0;
              for (int64_t j = 0; j < n; ++j) {
                p[j] = std::exp(p[j] - m);
                sum += p[j];
              }
              row_sum[r] += sum;
              row_max[r] = m;
              for (int64_t j = 0; j < n; ++j) axpy_row(D, p[j], v + ((b * S + s0 + j) * Hkv + g) * D, ar);
            }
          }
          for (int64_t r = 0; r < nq; ++r) {
            const int64_t t = t0 + r;
            T* orow = out + ((b * S + t) * Hq + h) * D;
            const T inv = T(1) / row_sum[r];
            for (int64_t d = 0; d < D; ++d) orow[d] = acc[r * D + d] * inv;
            lse[(b * Hq + h) * S + t] = row_max[r] + std::log(row_sum[r]);
          }
        }
    }
}

// With P = softmax(q·kᵀ/√D) (causal) and δ_t = dout_t·out_t (= Σ_s P_ts dout_t·v_s):
//   dv_s += Σ_t P_ts dout_t,   dS_ts = P_ts (dout_t·v_s − δ_t),
//   dq_t += dS_ts k_s / √D,    dk_s += dS_ts q_t / √D.
// P is recomputed tile by tile as exp(q·k/√D − lse); same loop nest as the forward.
template <class T>
void CpuAttentionOps<T>::attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q,
                                            const T* k, const T* v, const T* out, const T* lse, const T* dout,
                                            T* dq, T* dk, T* dv) const {
  check_heads(Hq, Hkv);
  std::fill(dq, dq + B * S * Hq * D, T(0));
  std::fill(dk, dk + B * S * Hkv * D, T(0));
  std::fill(dv, dv + B * S * Hkv * D, T(0));
  if (B == 0 || S == 0) return;
  const int64_t G = Hq / Hkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(D)));
  const int64_t bq = std::min(block_q_, S), bk = std::min(block_k_, S);
  std::vector<T> kt(D * S), vt(D * S), p(bk), dp(bk), delta(bq);

  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < Hkv; ++g) {
      pack_transposed(k, b, g, S, Hkv, D, kt.data());
      pack_transposed(v, b, g, S, Hkv, D, vt.data());
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          for (int64_t r = 0; r < nq; ++r) {
            const int64_t row = ((b * S + t0 + r) * Hq + h) * D;
            T sum = 0;
            for (int64_t d = 0; d < D; ++d) sum += dout[row + d] * out[row + d];
            delta[r] = sum;
          }
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            for (int64_t r = 0; r < nq; ++r) {
              const int64_t t = t0 + r;
              const int64_t n = std::min(nk, t + 1 - s0);
              if (n <= 0) continue;
              const int64_t row = ((b * S + t) * Hq + h) * D;
              const T* qr = q + row;
              const T* dor = dout + row;
              T* dqr = dq + row;
              const T row_lse = lse[(b * Hq + h) * S + t];
              row_times_block(qr, kt.data() + s0, S, D, n, scale, p.data());
              for (int64_t j = 0; j < n; ++j) p[j] = std::exp(p[j] - row_lse);
              row_times_block(dor, vt.data() + s0, S, D, n, T(1), dp.data());
              for (int64_t j = 0; j < n; ++j) {
                const T pj = p[j];
                const T ds = pj * (dp[j] - delta[r]) * scale;
                const int64_t kv_row = ((b * S + s0 + j) * Hkv + g) * D;
                axpy_row(D, ds, k + kv_row, dqr);
                axpy_row(D, ds, qr, dk + kv_row);
                axpy_row(D, pj, dor, dv + kv_row);
              }
            }
          }
        }
    }
}

template class CpuAttentionOps<float>;
template class CpuAttentionOps<double>;

}  // namespace sy
