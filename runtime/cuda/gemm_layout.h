// runtime/cuda/gemm_layout.h — the row-major GEMM of CoreOps as the column-major call cuBLASLt makes (pure, host-tested).
#pragma once
#include <compare>
#include <cstdint>

namespace sy {

// Row-major C[M,N] = op(A)·op(B) is, read column-major, Cᵀ[N,M] = op(B)ᵀ·op(A)ᵀ, and
// a row-major matrix read column-major is its transpose.  So cuBLAS computes with
// its first operand = our B (transposed iff trans_b), second = our A (iff trans_a),
// m = N, n = M, k = K, and every leading dimension unchanged.  The stored shapes
// below are what cublasLtMatrixLayoutCreate takes (rows, cols, ld; column-major).
struct ColumnMajorGemm {
  bool op_first_t = false, op_second_t = false;  // CUBLASLT_MATMUL_DESC_TRANSA / TRANSB
  int64_t m = 0, n = 0, k = 0;
  int64_t first_rows = 0, first_cols = 0, first_ld = 0;     // our B
  int64_t second_rows = 0, second_cols = 0, second_ld = 0;  // our A
  int64_t c_rows = 0, c_cols = 0, c_ld = 0;
};

inline ColumnMajorGemm to_column_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                                       int64_t ldb, int64_t ldc) {
  ColumnMajorGemm g;
  g.op_first_t = trans_b;
  g.op_second_t = trans_a;
  g.m = N;
  g.n = M;
  g.k = K;
  // First operand, stored m×k (or k×m when transposed).
  g.first_rows = trans_b ? K : N;
  g.first_cols = trans_b ? N : K;
  g.first_ld = ldb;
  // Second operand, stored k×n (or n×k when transposed).
  g.second_rows = trans_a ? M : K;
  g.second_cols = trans_a ? K : M;
  g.second_ld = lda;
  g.c_rows = N;
  g.c_cols = M;
  g.c_ld = ldc;
  return g;
}

// Everything a cuBLASLt matmul plan (descriptor, layouts, chosen algorithm)
// depends on; the key of the plan cache in CudaCoreOps.  `type` is the
// cudaDataType_t of A, B and C as an int (this header stays free of CUDA).
struct LtGemmKey {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  int batch = 1;
  int type = 0;
  auto operator<=>(const LtGemmKey&) const = default;
};

}  // namespace sy
