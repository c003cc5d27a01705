// runtime/cpu/cpu_attention_ops.cpp — RoPE tables and the blocked causal attention forward/backward loops.
#include "runtime/cpu/cpu_attention_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
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
// Through 16×16 tiles held locally: gathered loads, contiguous stores.
template <class T>
SY_CPU_CLONES void pack_transposed(const T* src, int64_t b, int64_t g, int64_t S, int64_t H, int64_t D, T* dst) {
  constexpr int64_t kT = 16;
  T tile[kT][kT];
  for (int64_t s0 = 0; s0 < S; s0 += kT)
    for (int64_t d0 = 0; d0 < D; d0 += kT) {
      const int64_t ns = std::min(kT, S - s0), nd = std::min(kT, D - d0);
      if (ns == kT && nd == kT) {
        const T* base = src + ((b * S + s0) * H + g) * D + d0;
        const int64_t rs = H * D;
        for (int64_t j = 0; j < kT; ++j)
          for (int64_t i = 0; i < kT; ++i) tile[j][i] = base[i * rs + j];  // a gather per j
        for (int64_t j = 0; j < kT; ++j)
          for (int64_t i = 0; i < kT; ++i) dst[(d0 + j) * S + s0 + i] = tile[j][i];
      } else {
        for (int64_t i = 0; i < ns; ++i)
          for (int64_t j = 0; j < nd; ++j) dst[(d0 + j) * S + s0 + i] = src[((b * S + s0 + i) * H + g) * D + d0 + j];
      }
    }
}

// Σ of 8 partial sums, pairwise in a fixed order (the loops below keep 8 lanes
// so that GCC vectorises them without reassociating).
template <class T>
inline T lane_sum(const T (&lane)[8]) {
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

// δ_t = dout_t · out_t for the nq rows of a query block (row stride `stride`), in 8 lanes.
template <class T>
SY_CPU_CLONES void row_dots(int64_t nq, int64_t D, const T* __restrict a, const T* __restrict b, int64_t stride,
                            T* __restrict out) {
  for (int64_t r = 0; r < nq; ++r) {
    const T* ar = a + r * stride;
    const T* br = b + r * stride;
    T lane[8] = {};
    int64_t d = 0;
    for (; d + 8 <= D; d += 8)
      for (int i = 0; i < 8; ++i) lane[i] += ar[d + i] * br[d + i];
    for (; d < D; ++d) lane[0] += ar[d] * br[d];
    out[r] = lane_sum(lane);
  }
}

// The tile products of attention (S = Q·Kᵀ, P·V, dP = dO·Vᵀ, dS·K, dSᵀ·Q, Pᵀ·dO)
// are all small GEMMs C[R, w] (+)= alpha · A[R, m] · B[m, w] with row-major,
// strided A, B, C (Kᵀ and Vᵀ come packed as [D, S], so B is always read along
// rows).  They are too small for a library call per tile (a 32×64×64 product
// is 0.26 MFLOP), so they run through a register-blocked kernel: up to 6 rows
// (AVX2) or 4 rows (AVX-512) of C × 16-float vectors held in registers while m
// rank-1 updates stream through, each B vector loaded once for all the rows.
// Every C element is summed over k in increasing order whatever the blocking,
// so results do not depend on the thread count.
constexpr int64_t kMaxBlock = 64;
constexpr int64_t kMaxHead = 256;

// The portable version (double, and the float remainders narrower than 16).
template <class T>
void tile_gemm_ref(int64_t R, int64_t m, int64_t w, const T* a, int64_t lda, int64_t ak_stride, const T* b,
                   int64_t ldb, T alpha, bool accumulate, const T* cscale, T* c, int64_t ldc) {
  for (int64_t r = 0; r < R; ++r) {
    T acc[kMaxHead] = {};
    for (int64_t k = 0; k < m; ++k) {
      const T ak = a[r * lda + k * ak_stride];
      const T* brow = b + k * ldb;
      for (int64_t j = 0; j < w; ++j) acc[j] += ak * brow[j];
    }
    T* cr = c + r * ldc;
    const T keep = cscale ? cscale[r] : T(1);
    for (int64_t j = 0; j < w; ++j) cr[j] = accumulate ? keep * cr[j] + alpha * acc[j] : alpha * acc[j];
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
// Float vectors of 16 (AVX-512) and 8 (AVX2) lanes; aligned(4): tiles start at
// any float.  Only ever local values inside the kernels (never passed by
// value), so no ABI questions.
typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));

// R rows × NV vectors of C, all accumulators in registers, while m rank-1
// updates stream through.  Inlined into one kernel per instruction set below,
// which fixes the register budget: AVX-512 has 32 zmm (R·NV ≤ 16 accumulators),
// AVX2 16 ymm (R·NV ≤ 12, plus the NV vectors of B and a broadcast).  A v16f
// kernel compiled for AVX2 would need 32 ymm accumulators: it spilled every
// update and ran attention at 2 GFLOP/s on an AMD Zen 3 (bench/RESULTS.md).
template <class V, int R, int NV>
__attribute__((always_inline)) inline void tile_body(int64_t m, const float* __restrict a, int64_t lda,
                                                      int64_t ak_stride, const float* __restrict b, int64_t ldb,
                                                      float alpha, bool accumulate, const float* __restrict cscale,
                                                      float* __restrict c, int64_t ldc) {
  constexpr int L = sizeof(V) / sizeof(float);
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < m; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + k * ldb + L * v, sizeof(V));
    for (int r = 0; r < R; ++r) {
      const float ar = a[r * lda + k * ak_stride];
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      float* cp = c + r * ldc + L * v;
      V out = alpha * acc[r][v];
      if (accumulate) {
        V old;
        std::memcpy(&old, cp, sizeof(V));
        out = cscale ? cscale[r] * old + out : old + out;
      }
      std::memcpy(cp, &out, sizeof(V));
    }
}

#define SY_TILE_ARGS                                                                                       \
  int64_t m, const float *__restrict a, int64_t lda, int64_t aks, const float *__restrict b, int64_t ldb, \
      float alpha, bool accumulate, const float *__restrict cs, float *__restrict c, int64_t ldc
#define SY_TILE_PASS m, a, lda, aks, b, ldb, alpha, accumulate, cs, c, ldc
template <int R, int NV>
__attribute__((target("arch=x86-64-v4"), noinline)) void tile_kernel_avx512(SY_TILE_ARGS) {
  tile_body<v16f, R, NV>(SY_TILE_PASS);
}
template <int R, int NV>
__attribute__((target("arch=x86-64-v3"), noinline)) void tile_kernel_avx2(SY_TILE_ARGS) {
  tile_body<v8f, R, NV>(SY_TILE_PASS);
}
// AVX-512's layout in AVX2 instructions, for tests on CPUs without AVX-512
// (each 16-float vector is a pair of ymm, so the accumulators spill: slow).
template <int R, int NV>
__attribute__((target("arch=x86-64-v3"), noinline)) void tile_kernel_avx512_layout_on_avx2(SY_TILE_ARGS) {
  tile_body<v16f, R, NV>(SY_TILE_PASS);
}

// Columns [j, w) in strips of 64/32/16 floats (AVX-512's layout) through the
// kernels of 4/2/1 vectors; returns where the strips end.
template <void (*K4)(SY_TILE_ARGS), void (*K2)(SY_TILE_ARGS), void (*K1)(SY_TILE_ARGS)>
int64_t strips16(int64_t j, int64_t w, SY_TILE_ARGS) {
  for (; j + 64 <= w; j += 64) K4(m, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc);
  if (j + 32 <= w) K2(m, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc), j += 32;
  if (j + 16 <= w) K1(m, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc), j += 16;
  return j;
}
#undef SY_TILE_PASS
#undef SY_TILE_ARGS

// Rows [r, r + R) of C in column strips: 64/32/16 columns (AVX-512's layout)
// or 16/8 (AVX2), the rest through the portable loop.
template <int R>
void tile_rows(AttentionTiles tiles, int64_t r, int64_t m, int64_t w, const float* a, int64_t lda, int64_t aks,
               const float* b, int64_t ldb, float alpha, bool accumulate, const float* cscale, float* c, int64_t ldc) {
  a += r * lda, c += r * ldc;
  const float* cs = cscale ? cscale + r : nullptr;
  int64_t j = 0;
  if constexpr (R <= 4) {  // 6-row groups run on AVX2 only (tile_gemm)
    if (tiles == AttentionTiles::avx512)
      j = strips16<tile_kernel_avx512<R, 4>, tile_kernel_avx512<R, 2>, tile_kernel_avx512<R, 1>>(
          j, w, m, a, lda, aks, b, ldb, alpha, accumulate, cs, c, ldc);
    if (tiles == AttentionTiles::avx512_layout_on_avx2)
      j = strips16<tile_kernel_avx512_layout_on_avx2<R, 4>, tile_kernel_avx512_layout_on_avx2<R, 2>,
                   tile_kernel_avx512_layout_on_avx2<R, 1>>(j, w, m, a, lda, aks, b, ldb, alpha, accumulate, cs, c,
                                                            ldc);
  }
  if (tiles == AttentionTiles::avx2) {
    for (; j + 16 <= w; j += 16) tile_kernel_avx2<R, 2>(m, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc);
    if (j + 8 <= w) tile_kernel_avx2<R, 1>(m, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc), j += 8;
  }
  if (j < w) tile_gemm_ref<float>(R, m, w - j, a, lda, aks, b + j, ldb, alpha, accumulate, cs, c + j, ldc);
}
#endif

// The part of a tile product the causal mask leaves nonzero, for tiles of
// query block t0 × key block s0 (diag = t0 − s0; key j of the block is visible
// to query row r iff j ≤ r + diag).  The float kernels skip, per row group
// [r, r + G), what the mask zeroes; the double path computes whole tiles and
// stays the reference the float tests compare against.
struct TileMask {
  enum Kind {
    none,
    keys_in_columns,  // C = scores [query][key]: whole strips past key r + G + diag − 1 are left unwritten
    keys_in_sum,      // C[query] = Σ_key: keys ≥ r + G + diag carry zero weight
    queries_in_sum,   // C[key] = Σ_query: queries < r − diag carry zero weight
  } kind = none;
  int64_t diag = 0;
};

// C[R, w] = alpha·A·B, or with accumulate C = keep ⊙ C + alpha·A·B, where
// keep[r] = cscale[r] scales row r of the old C (1 when cscale is null).
// w ≤ kMaxHead; A[r][k] = a[r·lda + k·aks]: aks = 1 is a row-major A, lda = 1
// a transposed one (dSᵀ and Pᵀ are read straight from the [query][key] tiles).
// `tiles` is resolved (never `best`); double ignores it.
template <class T>
void tile_gemm(AttentionTiles tiles, int64_t R, int64_t m, int64_t w, const T* a, int64_t lda, int64_t aks,
               const T* b, int64_t ldb, T alpha, bool accumulate, T* c, int64_t ldc, const T* cscale = nullptr,
               TileMask mask = {}) {
#if defined(__GNUC__) && defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>) {
    auto group = [&]<int G>(std::integral_constant<int, G>, int64_t r) {
      int64_t k0 = 0, k1 = m, cols = w;
      switch (mask.kind) {
        case TileMask::keys_in_columns: {
          // Whole vector strips (16 floats in AVX-512's layout, 8 in AVX2's):
          // a narrower remainder would go through the portable loop.
          const int64_t strip = tiles == AttentionTiles::avx2 ? 8 : 16;
          cols = std::min(w, (std::max<int64_t>(0, r + G + mask.diag) + strip - 1) / strip * strip);
          break;
        }
        case TileMask::keys_in_sum: k1 = std::clamp<int64_t>(r + G + mask.diag, 0, m); break;
        case TileMask::queries_in_sum: k0 = std::clamp<int64_t>(r - mask.diag, 0, m); break;
        case TileMask::none: break;
      }
      // Skipped terms are zeros at the ends of each sum: every kept term is
      // still added in increasing k, so no result changes.
      tile_rows<G>(tiles, r, k1 - k0, cols, a + k0 * aks, lda, aks, b + k0 * ldb, ldb, alpha, accumulate, cscale, c,
                   ldc);
    };
    int64_t r = 0;
    // Row groups of 6 on AVX2: 12 of the 16 ymm registers accumulate, enough
    // independent FMA chains to cover the FMA latency (4 rows, 8 accumulators,
    // ran bench/attention_kernels 5–10 % slower on a Zen 3).  AVX-512's layout
    // keeps groups of 4 (4 × 4 of the 32 zmm).
    if (tiles == AttentionTiles::avx2)
      for (; r + 6 <= R; r += 6) group(std::integral_constant<int, 6>{}, r);
    for (; r + 4 <= R; r += 4) group(std::integral_constant<int, 4>{}, r);
    switch (R - r) {
      case 3: group(std::integral_constant<int, 3>{}, r); break;
      case 2: group(std::integral_constant<int, 2>{}, r); break;
      case 1: group(std::integral_constant<int, 1>{}, r); break;
      default: break;
    }
    return;
  }
#endif
  (void)tiles, (void)mask;
  tile_gemm_ref<T>(R, m, w, a, lda, aks, b, ldb, alpha, accumulate, cscale, c, ldc);
}

// Key j of tile row r is visible iff j < visible(diag, r, nk): the causal mask
// s ≤ t with diag = t0 − s0 (query block start − key block start).
inline int64_t visible(int64_t diag, int64_t r, int64_t nk) { return std::clamp<int64_t>(diag + r + 1, 0, nk); }

// One online-softmax step over a score tile p[nq][ld] (nk keys): row r's
// visible scores become exp(p − m_r) with m_r its new running max (masked ones
// 0), row_sum[r] is rescaled and extended, and keep[r] = exp(old max − m_r) is
// the factor for what the row accumulated so far (applied by the P·V product).
// One call per tile: per-row calls through the clone dispatcher cost as much
// as the exps of a 64-key row.  The max and the sum run in 8 lanes.
template <class T>
SY_CPU_CLONES void softmax_tile(int64_t nq, int64_t nk, int64_t ld, int64_t diag, T* __restrict p,
                                T* __restrict row_max, T* __restrict row_sum, T* __restrict keep) {
  for (int64_t r = 0; r < nq; ++r) {
    const int64_t n = visible(diag, r, nk);
    T* pr = p + r * ld;
    for (int64_t j = n; j < nk; ++j) pr[j] = 0;
    if (n == 0) {
      keep[r] = 1;
      continue;
    }
    T lane[8];
    for (int i = 0; i < 8; ++i) lane[i] = row_max[r];
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
      for (int i = 0; i < 8; ++i) lane[i] = pr[j + i] > lane[i] ? pr[j + i] : lane[i];
    for (; j < n; ++j) lane[0] = pr[j] > lane[0] ? pr[j] : lane[0];
    T m = lane[0];
    for (int i = 1; i < 8; ++i) m = lane[i] > m ? lane[i] : m;
    for (int64_t jj = 0; jj < n; ++jj) pr[jj] = cpu_math::exp(pr[jj] - m);
    for (int i = 0; i < 8; ++i) lane[i] = 0;
    for (j = 0; j + 8 <= n; j += 8)
      for (int i = 0; i < 8; ++i) lane[i] += pr[j + i];
    for (; j < n; ++j) lane[0] += pr[j];
    const T sum = lane_sum(lane);
    keep[r] = cpu_math::exp(row_max[r] - m);  // 0 for the first visible block (old max −∞)
    row_sum[r] = row_sum[r] * keep[r] + sum;
    row_max[r] = m;
  }
}

// The backward's elementwise tile step: P = exp(S − lse_t) (S = the tile's
// scaled scores in p) and dS = P ∘ (dP − δ_t) · scale in place of dP = dO·Vᵀ,
// masked entries 0 in both.
template <class T>
SY_CPU_CLONES void ds_tile(int64_t nq, int64_t nk, int64_t ld, int64_t diag, const T* __restrict lse,
                           const T* __restrict delta, T scale, T* __restrict p, T* __restrict dp) {
  for (int64_t r = 0; r < nq; ++r) {
    const int64_t n = visible(diag, r, nk);
    T* pr = p + r * ld;
    T* dpr = dp + r * ld;
    for (int64_t j = n; j < nk; ++j) pr[j] = 0, dpr[j] = 0;
    const T l = lse[r], d = delta[r];
    for (int64_t j = 0; j < n; ++j) {
      const T pj = cpu_math::exp(pr[j] - l);
      pr[j] = pj;
      dpr[j] = pj * (dpr[j] - d) * scale;
    }
  }
}

// Scratch of the attention kernels, one per piece of (b, g) pairs.
template <class T>
struct AttentionScratch {
  std::vector<T> kt, vt, p, dp, acc, row_max, row_sum, keep, delta;
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

bool cpu_runs(AttentionTiles tiles) {
  switch (tiles) {
    case AttentionTiles::best:
    case AttentionTiles::portable: return true;
#if defined(__GNUC__) && defined(__x86_64__)
    case AttentionTiles::avx512: return __builtin_cpu_supports("x86-64-v4");
    case AttentionTiles::avx2:
    case AttentionTiles::avx512_layout_on_avx2: return __builtin_cpu_supports("x86-64-v3");
#endif
    default: return false;
  }
}

template <class T>
CpuAttentionOps<T>::CpuAttentionOps(int64_t block_q, int64_t block_k, AttentionTiles tiles)
    : block_q_(block_q), block_k_(block_k), tiles_(tiles) {
  SY_ASSERT(block_q > 0 && block_k > 0 && block_k <= kMaxBlock,
            "attention block sizes must be positive, block_k at most " + std::to_string(kMaxBlock));
  SY_ASSERT(cpu_runs(tiles), "this CPU cannot run the attention tile kernels asked for");
  if (tiles_ == AttentionTiles::best)
    tiles_ = cpu_runs(AttentionTiles::avx512) ? AttentionTiles::avx512
             : cpu_runs(AttentionTiles::avx2) ? AttentionTiles::avx2
                                              : AttentionTiles::portable;
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
    grow(sc.kt, D * S), grow(sc.p, bq * bk), grow(sc.acc, bq * D), grow(sc.row_max, bq), grow(sc.row_sum, bq),
        grow(sc.keep, bq);
  };
  const int64_t q_stride = Hq * D, kv_stride = Hkv * D;
  for_pair_pieces<T>(B * Hkv, size_scratch, [&](AttentionScratch<T>& sc, int64_t pair_begin, int64_t pair_end) {
    T* kt = sc.kt.data();
    T* p = sc.p.data();  // [nq][bk]: the tile's scores, then its probabilities
    T* acc = sc.acc.data();
    T* row_max = sc.row_max.data();
    T* row_sum = sc.row_sum.data();
    T* keep = sc.keep.data();
    for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
      const int64_t b = pair / Hkv, g = pair % Hkv;
      pack_transposed(k, b, g, S, Hkv, D, kt);
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          const T* q_blk = q + ((b * S + t0) * Hq + h) * D;
          std::fill(row_max, row_max + bq, -std::numeric_limits<T>::infinity());
          std::fill(row_sum, row_sum + bq, T(0));
          std::fill(acc, acc + bq * D, T(0));
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            // Scores up to the diagonal (whole vector strips); softmax_tile zeroes what the mask hides.
            const int64_t diag = t0 - s0;
            tile_gemm<T>(tiles_, nq, D, nk, q_blk, q_stride, 1, kt + s0, S, scale, false, p, bk, nullptr,
                         {TileMask::keys_in_columns, diag});
            softmax_tile(nq, nk, bk, diag, p, row_max, row_sum, keep);
            // acc = keep ⊙ acc + P·V: the rescale to the new running max rides on the product.
            tile_gemm<T>(tiles_, nq, nk, D, p, bk, 1, v + ((b * S + s0) * Hkv + g) * D, kv_stride, T(1), true, acc, D,
                         keep, {TileMask::keys_in_sum, diag});
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
    grow(sc.kt, D * S), grow(sc.vt, D * S), grow(sc.p, bq * bk), grow(sc.dp, bq * bk), grow(sc.delta, bq);
  };
  const int64_t q_stride = Hq * D, kv_stride = Hkv * D;
  for_pair_pieces<T>(B * Hkv, size_scratch, [&](AttentionScratch<T>& sc, int64_t pair_begin, int64_t pair_end) {
    T* kt = sc.kt.data();
    T* vt = sc.vt.data();
    T* p = sc.p.data();    // [nq][bk]: P of the tile
    T* dp = sc.dp.data();  // [nq][bk]: dO·Vᵀ of the tile, then dS
    T* delta = sc.delta.data();
    for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
      const int64_t b = pair / Hkv, g = pair % Hkv;
      pack_transposed(k, b, g, S, Hkv, D, kt);
      pack_transposed(v, b, g, S, Hkv, D, vt);
      for (int64_t h = g * G; h < (g + 1) * G; ++h)
        for (int64_t t0 = 0; t0 < S; t0 += bq) {
          const int64_t nq = std::min(bq, S - t0);
          const int64_t blk = ((b * S + t0) * Hq + h) * D;
          row_dots(nq, D, dout + blk, out + blk, Hq * D, delta);
          // Per tile (query block × key block): P and dP as tile products, dS
          // row by row (masked entries 0), then dq, dk and dv as tile products.
          const T* q_blk = q + ((b * S + t0) * Hq + h) * D;
          const T* do_blk = dout + ((b * S + t0) * Hq + h) * D;
          T* dq_blk = dq + ((b * S + t0) * Hq + h) * D;
          for (int64_t s0 = 0; s0 < t0 + nq; s0 += bk) {
            const int64_t nk = std::min(bk, t0 + nq - s0);
            const int64_t kv0 = ((b * S + s0) * Hkv + g) * D;
            const int64_t diag = t0 - s0;
            const TileMask scores{TileMask::keys_in_columns, diag}, by_key{TileMask::keys_in_sum, diag},
                by_query{TileMask::queries_in_sum, diag};
            tile_gemm<T>(tiles_, nq, D, nk, q_blk, q_stride, 1, kt + s0, S, scale, false, p, bk, nullptr, scores);
            tile_gemm<T>(tiles_, nq, D, nk, do_blk, q_stride, 1, vt + s0, S, T(1), false, dp, bk, nullptr, scores);
            ds_tile(nq, nk, bk, diag, lse + (b * Hq + h) * S + t0, delta, scale, p, dp);
            tile_gemm<T>(tiles_, nq, nk, D, dp, bk, 1, k + kv0, kv_stride, T(1), true, dq_blk, q_stride, nullptr,
                         by_key);
            tile_gemm<T>(tiles_, nk, nq, D, dp, 1, bk, q_blk, q_stride, T(1), true, dk + kv0, kv_stride, nullptr,
                         by_query);
            tile_gemm<T>(tiles_, nk, nq, D, p, 1, bk, do_blk, q_stride, T(1), true, dv + kv0, kv_stride, nullptr,
                         by_query);
          }
        }
    }
  });
}

template class CpuAttentionOps<float>;
template class CpuAttentionOps<double>;

}  // namespace sy
