// runtime/cpu/bf16_pack.cpp — fp32 → bf16 rounding and packing loops (dense, transposed, VNNI-blocked).
//
// oneDNN 2.6's generic reorders into these layouts ran at ≈ 0.7 G elements/s
// here (0.37 ms for a 512×512 weight), slower than the AMX matmul that reads
// them; these plain loops reach 1.5–2.3 G elements/s on one core, about what
// memory bandwidth allows for operands that do not fit in cache (an
// AVX-512 target_clones build of them measured no faster).  They run on the
// calling thread: splitting them over 2 OpenMP threads added two barriers per
// GEMM and measured slower on the shared machine (bench/RESULTS.md).
#include "runtime/cpu/bf16_pack.h"

#include <bit>

namespace sy {

namespace {

inline uint16_t rne(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  // NaN: keep it a NaN (exponent all ones, quiet bit set) whatever the payload.
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x40u) : rounded);
}

}  // namespace

void round_to_bf16(int64_t n, const float* x, uint16_t* out) {
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
  for (int64_t nb = nb0; nb < nb1; ++nb)
    for (int64_t kb = kb0; kb < kb1; ++kb) {
      uint16_t* block = out + (nb * KB + kb) * 32 * 64;
      const int64_t n0 = nb * 64, k0 = kb * 32;
      const bool full = n0 + 64 <= N && k0 + 32 <= K;
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
