// tests/unit/gemm_layout_test.cpp — the row-major → column-major GEMM mapping the CUDA backend hands cuBLASLt,
// run through a reference column-major GEMM (cuBLAS semantics) and compared with the CPU backend's row-major GEMM.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/cpu/cpu_core_ops.h"
#include "runtime/cuda/gemm_layout.h"
#include "runtime/rng.h"

namespace sy {
namespace {

// cuBLAS: C = alpha·op(A)·op(B) + beta·C, column-major; A stored (rows_a × cols_a, lda), likewise B and C.
// The stored shapes are asserted against what cuBLASLt's layouts would be told.
void column_major_gemm(const ColumnMajorGemm& g, double alpha, const double* A, const double* B, double beta,
                       double* C) {
  ASSERT_EQ(g.first_rows, g.op_first_t ? g.k : g.m);
  ASSERT_EQ(g.first_cols, g.op_first_t ? g.m : g.k);
  ASSERT_EQ(g.second_rows, g.op_second_t ? g.n : g.k);
  ASSERT_EQ(g.second_cols, g.op_second_t ? g.k : g.n);
  ASSERT_GE(g.first_ld, g.first_rows);
  ASSERT_GE(g.second_ld, g.second_rows);
  ASSERT_GE(g.c_ld, g.c_rows);
  ASSERT_EQ(g.c_rows, g.m);
  ASSERT_EQ(g.c_cols, g.n);
  auto a = [&](int64_t i, int64_t l) { return g.op_first_t ? A[l + i * g.first_ld] : A[i + l * g.first_ld]; };
  auto b = [&](int64_t l, int64_t j) { return g.op_second_t ? B[j + l * g.second_ld] : B[l + j * g.second_ld]; };
  for (int64_t j = 0; j < g.n; ++j)
    for (int64_t i = 0; i < g.m; ++i) {
      double s = 0;
      for (int64_t l = 0; l < g.k; ++l) s += a(i, l) * b(l, j);
      C[i + j * g.c_ld] = alpha * s + beta * C[i + j * g.c_ld];
    }
}

std::vector<double> random(int64_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = double(mix64(seed * 1000003 + i) % 2001) / 1000.0 - 1.0;
  return v;
}

TEST(GemmLayout, EveryTransposeAndPaddedLeadingDimensionMatchesTheRowMajorGemm) {
  const int64_t M = 3, N = 5, K = 4, pad = 2;
  CpuCoreOps<double> cpu;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // Row-major storage: A is [M,K] or [K,M], B is [K,N] or [N,K]; each row padded by `pad`.
      const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      const std::vector<double> A = random((ta ? K : M) * lda, 1), B = random((tb ? N : K) * ldb, 2);
      std::vector<double> want = random(M * ldc, 3), got = want;
      cpu.gemm(ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, -1.5, want.data(), ldc);
      const ColumnMajorGemm g = to_column_major(ta, tb, M, N, K, lda, ldb, ldc);
      EXPECT_EQ(g.m, N);
      EXPECT_EQ(g.n, M);
      // The first cuBLAS operand is our B, the second our A.
      column_major_gemm(g, 0.5, B.data(), A.data(), -1.5, got.data());
      for (int64_t i = 0; i < M * ldc; ++i)
        ASSERT_NEAR(got[i], want[i], 1e-12) << "trans_a " << ta << " trans_b " << tb << " element " << i;
    }
}

}  // namespace
}  // namespace sy
