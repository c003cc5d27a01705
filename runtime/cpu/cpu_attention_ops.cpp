// runtime/cpu/cpu_attention_ops.cpp — RoPE tables and the blocked causal attention forward/backward loops.
#include "runtime/cpu/cpu_attention_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/cpu/cpu_math.h"
#include "runtime/cpu/cpu_parallel.h"
#include "runtime/error.h"

namespace sy {

namespace {

// cos/sin of t·θ_i for t < S, i < D/2, as [S, D/2].  Angles are formed in double:
// in float, t·θ_0 = t loses the low bits of the phase for long sequences.
// The tables are cached per thread for the last (S, D, theta): every layer of a
// step asks for the same ones, so steady-state steps neither recompute nor allocate.
template <class T>
struct RopeTables {
  int64_t S = -1, D = -1;
  double theta = 0;
  std::vector<T> cos_t, sin_t;
};

template <class T>
const RopeTables<T>& rope_tables(int64_t S, int64_t D, double theta) {
  SY_ASSERT(D % 2 == 0, "rope needs an even head size, got " + std::to_string(D));
  thread_local RopeTables<T> tab;
  if (tab.S == S && tab.D == D && tab.theta == theta) return tab;
  const int64_t half = D / 2;
  tab.cos_t.resize(S * half);
  tab.sin_t.resize(S * half);
  for (int64_t i = 0; i < half; ++i) {
    const double freq = std::pow(theta, -2.0 * double(i) / double(D));
    for (int64_t t = 0; t < S; ++t) {
      const double angle = double(t) * freq;
      tab.cos_t[t * half + i] = static_cast<T>(std::cos(angle));
      tab.sin_t[t * half + i] = static_cast<T>(std::sin(angle));
    }
  }
  tab.S = S, tab.D = D, tab.theta = theta;
  return tab;
}

// Rotates every [D] row of x[B, S, H, D] by +angle (sign = 1) or −angle (sign = −1).
template <class T>
void rope_apply(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x, T sign) {
  const RopeTables<T>& tab = rope_tables<T>(S, D, theta);
  const int64_t half = D / 2;
  const T* cos_t = tab.cos_t.data();
  const T* sin_t = tab.sin_t.data();
  parallel_for(B * S, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, H * D)), [&](int64_t rb, int64_t re) {
    for (int64_t bt = rb; bt < re; ++bt) {
      const int64_t t = bt % S;
      const T* c = cos_t + t * half;
      const T* s = sin_t + t * half;
      for (int64_t h = 0; h < H; ++h) {
        T* lo = x + (bt * H + h) * D;
        T* hi = lo + half;
        for (int64_t i = 0; i < half; ++i) {
          const T x1 = lo[i], x2 = hi[i], si = sign * s[i];
          lo[i] = x1 * c[i] - x2 * si;
          hi[i] = x2 * c[i] + x1 * si;
        }
      }
    }
  });
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
SY_CPU_CLONES __attribute__((noinline)) void axpy_row(int64_t n, T a, const T* __restrict x, T* __restrict y) {
  const int64_t body = n & ~int64_t(7);
  for (int64_t i = 0; i < body; ++i) y[i] += a * x[i];
  for (int64_t i = body; i < n; ++i) y[i] += a * x[i];
}

// y[0, n) *= a, vectorised like axpy_row.
template <class T>
SY_CPU_CLONES __attribute__((noinline)) void scale_row(int64_t n, T a, T* __restrict y) {
  const int64_t body = n & ~int64_t(7);
  for (int64_t i = 0; i < body; ++i) y[i] *= a;
  for (int64_t i = body; i < n; ++i) y[i] *= a;
}

// out[j] = alpha · Σ_d a[d] · bt[d·ld + j] for j < n.  n ≤ kMaxBlock: the row is
// accumulated in a local array the compiler can keep in vector registers.
constexpr int64_t kMaxBlock = 64;
template <class T>
SY_CPU_CLONES void row_times_block(const T* __restrict a, const T* __restrict bt, int64_t ld, int64_t D, int64_t n,
                                   T alpha, T* __restrict out) {
  T acc[kMaxBlock] = {};
  if (n == kMaxBlock) {  // the common full block: a fixed trip count vectorises fully
    for (int64_t d = 0; d < D; ++d) {
      const T ad = a[d];
      const T* row = bt + d * ld;
      for (int64_t j = 0; j < kMaxBlock; ++j) acc[j] += ad * row[j];
    }
  } else {
    for (int64_t d = 0; d < D; ++d) {
      const T ad = a[d];
      const T* row = bt + d * ld;
      for (int64_t j = 0; j < n; ++j) acc[j] += ad * row[j];
    }
  }
  for (int64_t j = 0; j < n; ++j) out[j] = alpha * acc[j];
}

// p[j] = exp(p[j] − m) for j < n; returns Σ p (in T, as the scalar loop did).
template <class T>
SY_CPU_CLONES T exp_shift_sum(int64_t n, T m, T* __restrict p) {
  for (int64_t j = 0; j < n; ++j) p[j] = cpu_math::exp(p[j] - m);
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) s0 += p[j], s1 += p[j + 1], s2 += p[j + 2], s3 += p[j + 3];
  for (; j < n; ++j) s0 += p[j];
  return (s0 + s1) + (s2 + s3);
}

// out[0, D) += Σ_{i<m} a[i] · rows[i·stride + (0, D)]: a weighted sum of m rows
// (P·V, dS·K, dSᵀ·Q, Pᵀ·dO of one tile row) in one call, the sum held in a local
// array the compiler keeps in vector registers, added to `out` once.
constexpr int64_t kMaxHead = 256;
template <class T>
SY_CPU_CLONES void add_weighted_rows(const T* __restrict a, int64_t m, const T* __restrict rows, int64_t stride,
                                     int64_t D, T* __restrict out) {
  T acc[kMaxHead] = {};
  if (D == 64) {  // the common head size: a fixed trip count vectorises fully
    for (int64_t i = 0; i < m; ++i) {
      const T ai = a[i];
      const T* r = rows + i * stride;
      for (int64_t d = 0; d < 64; ++d) acc[d] += ai * r[d];
    }
  } else {
    for (int64_t i = 0; i < m; ++i) {
      const T ai = a[i];
      const T* r = rows + i * stride;
      for (int64_t d = 0; d < D; ++d) acc[d] += ai * r[d];
    }
  }
  for (int64_t d = 0; d < D; ++d) out[d] += acc[d];
}

// Scratch of the attention kernels, one per piece of (b, g) pairs.
template <class T>
struct AttentionScratch {
  std::vector<T> kt, vt, p, dp, acc, row_max, row_sum, delta, ds_t, p_t;
};
template <class T>
void grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
}

// body(scratch, first pair, end pair) over [0, pairs) in up to 4 pieces per
// loop thread.  The scratch belongs to the piece, not to the thread that runs
// it, and the calling thread sizes it (size_scratch) before the pieces start:
// which pool thread claims which piece varies from step to step on a busy
// machine, and a thread meeting the kernel for the first time must not
// allocate in a steady-state step.
template <class T, class Size, class Body>
void for_pair_pieces(int64_t pairs, Size size_scratch, Body body) {
  thread_local std::vector<AttentionScratch<T>> caller_slots;
  // A reference: inside the lambda, the name of a thread_local would mean the
  // running pool thread's own (empty) instance.
  std::vector<AttentionScratch<T>>& slots = caller_slots;
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(pairs, 4 * int64_t(cpu_loop_threads())));
  if (static_cast<int64_t>(slots.size()) < P) slots.resize(P);
  for (int64_t i = 0; i < P; ++i) size_scratch(slots[i]);
  parallel_for(P, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t piece = pb; piece < pe; ++piece) body(slots[piece], pairs * piece / P, pairs * (piece + 1) / P);
  });
}

}  // namespace

template <class T>
CpuAttentionOps<T>::CpuAttentionOps(int64_t block_q, int64_t block_k) : block_q_(block_q), block_k_(block_k) {
  SY_ASSERT(block_q > 0 && block_k > 0 && block_k <= kMaxBlock,
            "attention block sizes must be positive, block_k at most " + std::to_string(kMaxBlock));
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
  SY_ASSERT(D <= kMaxHead, "attention head size " + std::to_string(D) + " above " + std::to_string(kMaxHead));
  if (B == 0 || S == 0) return;
  const int64_t G = Hq / Hkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(D)));
  const int64_t bq = std::min(block_q_, S), bk = std::min(block_k_, S);
  // (b, g) pairs are independent (each writes its own heads' out and lse rows):
  // they are split across the loop threads, each with its own scratch.
  auto size_scratch = [&](AttentionScratch<T>& sc) {
    grow(sc.kt, D * S), grow(sc.p, bk), grow(sc.acc, bq * D), grow(sc.row_max, bq), grow(sc.row_sum, bq);
  };
  for_pair_pieces<T>(B * Hkv, size_scratch, [&](AttentionScratch<T>& sc, int64_t pair_begin, int64_t pair_end) {
    T* kt = sc.kt.data();
    T* p = sc.p.data();
    T* acc = sc.acc.data();
    T* row_max = sc.row_max.data();
    T* row_sum = sc.row_sum.data();
    for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
      const int64_t b = pair / Hkv, g = pair % Hkv;
      pack_transposed(k, b, g, S, Hkv, D, kt);
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          std::fill(row_max, row_max + bq, -std::numeric_limits<T>::infinity());
          std::fill(row_sum, row_sum + bq, T(0));
          std::fill(acc, acc + bq * D, T(0));
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            for (int64_t r = 0; r < nq; ++r) {
              const int64_t t = t0 + r;
              const int64_t n = std::min(nk, t + 1 - s0);  // causal: keys s ≤ t
              if (n <= 0) continue;
              const T* qr = q + ((b * S + t) * Hq + h) * D;
              T* ar = acc + r * D;
              row_times_block(qr, kt + s0, S, D, n, scale, p);
              // Online softmax: rescale what earlier key blocks accumulated to the new running max.
              const T m = std::max(row_max[r], *std::max_element(p, p + n));
              const T correction = std::exp(row_max[r] - m);
              if (correction != T(1)) {
                row_sum[r] *= correction;
                scale_row(D, correction, ar);
              }
              row_sum[r] += exp_shift_sum(n, m, p);
              row_max[r] = m;
              add_weighted_rows(p, n, v + ((b * S + s0) * Hkv + g) * D, Hkv * D, D, ar);
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
  });
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
  SY_ASSERT(D <= kMaxHead, "attention head size " + std::to_string(D) + " above " + std::to_string(kMaxHead));
  std::fill(dq, dq + B * S * Hq * D, T(0));
  std::fill(dk, dk + B * S * Hkv * D, T(0));
  std::fill(dv, dv + B * S * Hkv * D, T(0));
  if (B == 0 || S == 0) return;
  const int64_t G = Hq / Hkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(double(D)));
  const int64_t bq = std::min(block_q_, S), bk = std::min(block_k_, S);
  // Parallel over (b, g) like the forward: dk and dv rows of kv head g are
  // written only by g's query heads, dq rows only by their own head.
  auto size_scratch = [&](AttentionScratch<T>& sc) {
    grow(sc.kt, D * S), grow(sc.vt, D * S), grow(sc.p, bk), grow(sc.dp, bk), grow(sc.delta, bq);
    grow(sc.ds_t, bk * bq), grow(sc.p_t, bk * bq);
  };
  for_pair_pieces<T>(B * Hkv, size_scratch, [&](AttentionScratch<T>& sc, int64_t pair_begin, int64_t pair_end) {
    T* kt = sc.kt.data();
    T* vt = sc.vt.data();
    T* p = sc.p.data();
    T* dp = sc.dp.data();
    T* delta = sc.delta.data();
    T* ds_t = sc.ds_t.data();  // [nk][nq]: dS of the tile, transposed (key-major)
    T* p_t = sc.p_t.data();    // [nk][nq]: P of the tile, transposed
    for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
      const int64_t b = pair / Hkv, g = pair % Hkv;
      pack_transposed(k, b, g, S, Hkv, D, kt);
      pack_transposed(v, b, g, S, Hkv, D, vt);
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          for (int64_t r = 0; r < nq; ++r) {
            const int64_t row = ((b * S + t0 + r) * Hq + h) * D;
            T sum = 0;
            for (int64_t d = 0; d < D; ++d) sum += dout[row + d] * out[row + d];
            delta[r] = sum;
          }
          // Per tile (query block × key block): P and dS row by row, dq rows
          // at once, then dk and dv rows from the transposed tile (masked
          // entries are 0, so every key row can sum over the whole block).
          const int64_t q_stride = Hq * D, kv_stride = Hkv * D;
          const T* q_blk = q + ((b * S + t0) * Hq + h) * D;
          const T* do_blk = dout + ((b * S + t0) * Hq + h) * D;
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            const int64_t kv0 = ((b * S + s0) * Hkv + g) * D;
            for (int64_t r = 0; r < nq; ++r) {
              const int64_t t = t0 + r;
              const int64_t n = std::max<int64_t>(0, std::min(nk, t + 1 - s0));
              for (int64_t j = n; j < nk; ++j) ds_t[j * nq + r] = p_t[j * nq + r] = T(0);
              if (n == 0) continue;
              const T* qr = q_blk + r * q_stride;
              const T* dor = do_blk + r * q_stride;
              const T row_lse = lse[(b * Hq + h) * S + t];
              row_times_block(qr, kt + s0, S, D, n, scale, p);
              exp_shift_sum(n, row_lse, p);
              row_times_block(dor, vt + s0, S, D, n, T(1), dp);
              for (int64_t j = 0; j < n; ++j) {
                const T ds = p[j] * (dp[j] - delta[r]) * scale;
                dp[j] = ds;
                ds_t[j * nq + r] = ds;
                p_t[j * nq + r] = p[j];
              }
              add_weighted_rows(dp, n, k + kv0, kv_stride, D, dq + ((b * S + t) * Hq + h) * D);
            }
            for (int64_t j = 0; j < nk; ++j) {
              add_weighted_rows(ds_t + j * nq, nq, q_blk, q_stride, D, dk + kv0 + j * kv_stride);
              add_weighted_rows(p_t + j * nq, nq, do_blk, q_stride, D, dv + kv0 + j * kv_stride);
            }
          }
        }
    }
  });
}

template class CpuAttentionOps<float>;
template class CpuAttentionOps<double>;

}  // namespace sy
