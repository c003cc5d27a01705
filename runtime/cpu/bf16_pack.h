// runtime/cpu/bf16_pack.h — fp32 → bf16 rounding (nearest even) into the layouts the oneDNN bf16 matmul reads.
#pragma once
#include <cstdint>

namespace sy {

// Rounds n floats to bf16 (round to nearest even; NaN stays NaN), as raw 16-bit patterns.
void round_to_bf16(int64_t n, const float* x, uint16_t* out);
// The float a bf16 pattern stands for.
float bf16_to_float(uint16_t b);

// op(X)[rows, cols] rounded into a dense row-major bf16 matrix (oneDNN "ab"),
// where op(X)[r][c] = x[r·ld + c], or x[c·ld + r] when `trans`.
void pack_bf16_dense(int64_t rows, int64_t cols, const float* x, int64_t ld, bool trans, uint16_t* out);

// op(X)[K, N] rounded into oneDNN's blocked "BA16a64b2a" layout (what its
// AVX-512/AMX bf16 matmul kernels read weights in): blocks of 32 K-rows × 64
// N-columns, N-blocks outermost, inside a block pairs of consecutive K-rows
// interleaved per column; K padded to 32 and N to 64 with zeros.  `out` holds
// ceil(K/32)·32 · ceil(N/64)·64 elements.
void pack_bf16_vnni(int64_t K, int64_t N, const float* x, int64_t ld, bool trans, uint16_t* out);

// The part of pack_bf16_vnni's output in K-blocks [kb0, kb1) × N-blocks [nb0, nb1)
// (32 K-rows and 64 N-columns a block): a weight refreshed piece by piece
// (CpuCoreOps::adamw) repacks just the blocks of the rows it updated.
void pack_bf16_vnni_blocks(int64_t K, int64_t N, const float* x, int64_t ld, bool trans, uint16_t* out, int64_t kb0,
                           int64_t kb1, int64_t nb0, int64_t nb1);

}  // namespace sy
