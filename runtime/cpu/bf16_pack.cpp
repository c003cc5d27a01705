// runtime/cpu/bf16_pack.cpp — fp32 → bf16 rounding and packing loops (dense, transposed, VNNI-blocked).
//
// oneDNN 2.6's generic reorders into these layouts ran at ≈ 0.7 G elements/s
// here (0.37 ms for a 512×512 weight), slower than the AMX matmul that reads
// them; the plain loops reach 1.5–2.3 G elements/s on one core, and on a CPU
// with AVX512-BF16 the full blocks use its conversion instruction (2–2.7×
// faster again: 1M elements rounded in 0.22 ms instead of 0.57).  They run on the
// calling thread: splitting them over 2 OpenMP threads added two barriers per
// GEMM and measured slower on the shared machine (bench/RESULTS.md); DnnlGemm
// splits large operands over the loop threads instead (cpu_parallel.h).
#include "runtime/cpu/bf16_pack.h"

#include <immintrin.h>

#include <bit>

namespace sy {

namespace {

inline uint16_t rne(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  // Denormal inputs become a signed zero, as in the AVX512-BF16 conversion
  // instructions (and oneDNN's reorders, which use them): both paths below agree.
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  // NaN: keep it a NaN (exponent all ones, quiet bit set) whatever the payload.
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x40u) : rounded);
}

// vcvtne2ps2bf16 rounds 32 floats in one instruction (RNE, denormals to zero,
// NaN stays a quiet NaN): 2.7× the scalar loop on a 1M-element operand, where
// the scalar loop did not reach memory bandwidth (bench/RESULTS.md, "bf16
// operand packing").
#define SY_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

bool native_bf16() {
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
}

SY_BF16_TARGET inline __m512i cvt32(const float* lo16, const float* hi16) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(hi16), _mm512_loadu_ps(lo16));
}

SY_BF16_TARGET void round_native(int64_t n, const float* x, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) _mm512_storeu_si512(out + i, cvt32(x + i, x + i + 16));
  for (; i < n; ++i) out[i] = rne(x[i]);
}

// One full VNNI block row pair: dst[2j + h] = bf16(row_h[j]), j < 64.
SY_BF16_TARGET void vnni_pair_native(const float* row0, const float* row1, uint16_t* dst) {
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                      5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24, 55, 23, 54, 22,
                                      53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
  for (int j = 0; j < 64; j += 32) {
    const __m512i a = cvt32(row0 + j, row0 + j + 16), b = cvt32(row1 + j, row1 + j + 16);
    _mm512_storeu_si512(dst + 2 * j, _mm512_permutex2var_epi16(a, lo, b));
    _mm512_storeu_si512(dst + 2 * j + 32, _mm512_permutex2var_epi16(a, hi, b));
  }
}

// One full block read transposed: column j of the block is 32 consecutive
// floats of stored row n0 + j; as 16 bf16 pairs they go to dwords kk·64 + j.
SY_BF16_TARGET void vnni_block_trans_native(const float* x, int64_t ld, uint16_t* block) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32(64));
  int* base = reinterpret_cast<int*>(block);
  for (int j = 0; j < 64; ++j) {
    const float* col = x + j * ld;
    _mm512_i32scatter_epi32(base + j, idx, cvt32(col, col + 16), 4);
  }
}

}  // namespace

void round_to_bf16(int64_t n, const float* x, uint16_t* out) {
  if (native_bf16()) {
    round_native(n, x, out);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = rne(x[i]);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

void pack_bf16_dense(int64_t rows, int64_t cols, const float* x, int64_t ld, bool trans, uint16_t* out) {
  if (!trans) {
    for (int64_t r = 0; r < rows; ++r) round_to_bf16(cols, x + r * ld, out + r * cols);
    return;
  }
  // Transposed read in 32×32 tiles so both sides stay in cache.
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = r0 + kTile < rows ? r0 + kTile : rows, c1 = c0 + kTile < cols ? c0 + kTile : cols;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) out[r * cols + c] = rne(x[c * ld + r]);
    }
}

void pack_bf16_vnni(int64_t K, int64_t N, const float* x, int64_t ld, bool trans, uint16_t* out) {
  pack_bf16_vnni_blocks(K, N, x, ld, trans, out, 0, (K + 31) / 32, 0, (N + 63) / 64);
}

void pack_bf16_vnni_blocks(int64_t K, int64_t N, const float* x, int64_t ld, bool trans, uint16_t* out, int64_t kb0,
                           int64_t kb1, int64_t nb0, int64_t nb1) {
  // "16a64b2a": a block is 16 × 2 = 32 K-rows by 64 N-columns, stored as
  // [16 row pairs][64 columns][2 rows of the pair].
  const int64_t KB = (K + 31) / 32;
  const bool native = native_bf16();
  for (int64_t nb = nb0; nb < nb1; ++nb)
    for (int64_t kb = kb0; kb < kb1; ++kb) {
      uint16_t* block = out + (nb * KB + kb) * 32 * 64;
      const int64_t n0 = nb * 64, k0 = kb * 32;
      const bool full = n0 + 64 <= N && k0 + 32 <= K;
      if (full && native) {
        if (trans) {
          vnni_block_trans_native(x + n0 * ld + k0, ld, block);
        } else {
          for (int64_t kk = 0; kk < 16; ++kk)
            vnni_pair_native(x + (k0 + 2 * kk) * ld + n0, x + (k0 + 2 * kk + 1) * ld + n0, block + kk * 128);
        }
        continue;
      }
      for (int64_t kk = 0; kk < 16; ++kk) {
        const int64_t k = k0 + 2 * kk;
        uint16_t* dst = block + kk * 128;
        if (full && !trans) {
          const float* row0 = x + k * ld + n0;
          const float* row1 = row0 + ld;
          for (int64_t j = 0; j < 64; ++j) {
            dst[2 * j] = rne(row0[j]);
            dst[2 * j + 1] = rne(row1[j]);
          }
        } else if (full) {
          for (int64_t j = 0; j < 64; ++j) {
            const float* pair = x + (n0 + j) * ld + k;  // op(X)[k][n], op(X)[k+1][n] are adjacent
            dst[2 * j] = rne(pair[0]);
            dst[2 * j + 1] = rne(pair[1]);
          }
        } else {
          for (int64_t j = 0; j < 64; ++j) {
            const int64_t n = n0 + j;
            for (int64_t h = 0; h < 2; ++h) {
              const int64_t kh = k + h;
              const float v = (n < N && kh < K) ? (trans ? x[n * ld + kh] : x[kh * ld + n]) : 0.0f;
              dst[2 * j + h] = rne(v);
            }
          }
        }
      }
    }
}

}  // namespace sy
