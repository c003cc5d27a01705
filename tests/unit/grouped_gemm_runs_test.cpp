// tests/unit/grouped_gemm_runs_test.cpp — how the CUDA backend splits a grouped GEMM into
// strided-batched cuBLASLt calls: every item in exactly one run, in order, at base + i·stride.
#include "runtime/cuda/grouped_gemm_runs.h"

#include <gtest/gtest.h>

#include <vector>

namespace sy {
namespace {

using Item = GemmGroupItem<float>;

// The property the CUDA gemm_grouped relies on: run r covers items first..first+count−1
// and item first+i has the run's shape and pointers base + i·stride.
void expect_exact_cover(const std::vector<Item>& items, const std::vector<GemmRun>& runs) {
  int64_t next = 0;
  for (const GemmRun& r : runs) {
    ASSERT_EQ(r.first, next);
    ASSERT_GE(r.count, 1);
    ASSERT_GE(r.stride_a, 0);
    ASSERT_GE(r.stride_b, 0);
    const Item& b = items[r.first];
    for (int64_t i = 0; i < r.count; ++i) {
      const Item& it = items[r.first + i];
      EXPECT_EQ(it.M, b.M);
      EXPECT_EQ(it.N, b.N);
      EXPECT_EQ(it.K, b.K);
      EXPECT_EQ(it.lda, b.lda);
      EXPECT_EQ(it.ldb, b.ldb);
      EXPECT_EQ(it.ldc, b.ldc);
      EXPECT_EQ(it.A, b.A + i * r.stride_a);
      EXPECT_EQ(it.B, b.B + i * r.stride_b);
      EXPECT_EQ(it.C, b.C + i * r.stride_c);
    }
    next += r.count;
  }
  EXPECT_EQ(next, int64_t(items.size()));
}

struct Buffers {
  std::vector<float> a = std::vector<float>(4096), b = std::vector<float>(4096), c = std::vector<float>(4096);
};

Item item(Buffers& m, int64_t M, int64_t N, int64_t K, int64_t off_a, int64_t off_b, int64_t off_c) {
  return Item{M, N, K, m.a.data() + off_a, K, m.b.data() + off_b, N, m.c.data() + off_c, N};
}

TEST(GroupedGemmRuns, EqualCapacityExpertsStoredBackToBackAreOneBatchedCall) {
  Buffers m;
  std::vector<Item> items;
  for (int e = 0; e < 4; ++e) items.push_back(item(m, 3, 5, 7, e * 21, e * 35, e * 15));
  const auto runs = grouped_gemm_runs(items.data(), int64_t(items.size()));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].count, 4);
  EXPECT_EQ(runs[0].stride_a, 21);
  EXPECT_EQ(runs[0].stride_b, 35);
  EXPECT_EQ(runs[0].stride_c, 15);
  expect_exact_cover(items, runs);
}

TEST(GroupedGemmRuns, SharedOperandHasStrideZero) {
  Buffers m;
  std::vector<Item> items;
  for (int e = 0; e < 3; ++e) items.push_back(item(m, 2, 4, 6, 0, e * 24, e * 8));  // one A for all
  const auto runs = grouped_gemm_runs(items.data(), int64_t(items.size()));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].stride_a, 0);
  expect_exact_cover(items, runs);
}

TEST(GroupedGemmRuns, ShapeChangesStrideBreaksAndBackwardsPointersSplitRuns) {
  Buffers m;
  std::vector<Item> items = {
      item(m, 3, 5, 7, 0, 0, 0),      item(m, 3, 5, 7, 21, 35, 15),  // run of 2
      item(m, 3, 5, 7, 50, 70, 40),                                  // stride breaks → new run…
      item(m, 3, 5, 7, 71, 105, 55),                                 // …which continues with its own strides
      item(m, 2, 5, 7, 200, 300, 100),                               // M differs (dropless routing)
      item(m, 2, 5, 7, 100, 200, 50),                                // pointers go backwards → alone
      item(m, 0, 5, 7, 400, 400, 400),                               // an expert with no rows
  };
  const auto runs = grouped_gemm_runs(items.data(), int64_t(items.size()));
  std::vector<int64_t> counts;
  for (const GemmRun& r : runs) counts.push_back(r.count);
  EXPECT_EQ(counts, (std::vector<int64_t>{2, 2, 1, 1, 1}));
  expect_exact_cover(items, runs);
}

TEST(GroupedGemmRuns, LeadingDimensionsMustMatch) {
  Buffers m;
  std::vector<Item> items = {item(m, 3, 5, 7, 0, 0, 0), item(m, 3, 5, 7, 21, 35, 15)};
  items[1].ldc = 6;
  EXPECT_EQ(grouped_gemm_runs(items.data(), 2).size(), 2u);
  EXPECT_TRUE(grouped_gemm_runs<float>(nullptr, 0).empty());
}

}  // namespace
}  // namespace sy
