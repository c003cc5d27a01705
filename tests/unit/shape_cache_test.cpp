// tests/unit/shape_cache_test.cpp — the bounded plan cache behind the GEMM backends, and the
// cuBLASLt plan key (every field distinguishes plans).
#include "runtime/shape_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "runtime/cuda/gemm_layout.h"

namespace sy {
namespace {

TEST(ShapeCache, BuildsOncePerKeyAndReturnsTheSamePlan) {
  ShapeCache<int, std::string> cache(8);
  int made = 0;
  auto make = [&] { return "plan" + std::to_string(++made); };
  std::optional<std::string> spill;
  const std::string* first = &cache.get(7, make, spill);
  EXPECT_EQ(*first, "plan1");
  EXPECT_EQ(&cache.get(7, make, spill), first);  // same node, not rebuilt
  EXPECT_EQ(cache.get(9, make, spill), "plan2");
  EXPECT_EQ(made, 2);
  EXPECT_FALSE(spill.has_value());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.builds(), 2u);
}

TEST(ShapeCache, PastCapacityPlansAreBuiltPerCallAndNotKept) {
  ShapeCache<int, std::string> cache(2);
  int made = 0;
  auto make = [&] { return "plan" + std::to_string(++made); };
  for (int round = 0; round < 3; ++round)
    for (int key = 0; key < 5; ++key) {
      std::optional<std::string> spill;
      const std::string& plan = cache.get(key, make, spill);
      if (key < 2) {
        EXPECT_FALSE(spill.has_value()) << key;
      } else {
        ASSERT_TRUE(spill.has_value()) << key;
        EXPECT_EQ(&plan, &*spill);
      }
    }
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(made, 2 + 3 * 3);          // keys 0, 1 once; keys 2..4 every round
  EXPECT_EQ(cache.hits(), 2u * 2u);    // keys 0, 1 in rounds 2 and 3
}

TEST(LtGemmKey, EveryFieldDistinguishesPlans) {
  const LtGemmKey base{false, false, 2, 3, 4, 4, 3, 3, 0, 0, 0, 1, 0};
  std::set<LtGemmKey> keys{base};
  auto vary = [&](auto field, auto value) {
    LtGemmKey k = base;
    k.*field = value;
    EXPECT_TRUE(keys.insert(k).second);
  };
  vary(&LtGemmKey::trans_a, true);
  vary(&LtGemmKey::trans_b, true);
  vary(&LtGemmKey::M, int64_t(5));
  vary(&LtGemmKey::N, int64_t(5));
  vary(&LtGemmKey::K, int64_t(5));
  vary(&LtGemmKey::lda, int64_t(5));
  vary(&LtGemmKey::ldb, int64_t(5));
  vary(&LtGemmKey::ldc, int64_t(5));
  vary(&LtGemmKey::stride_a, int64_t(5));
  vary(&LtGemmKey::stride_b, int64_t(5));
  vary(&LtGemmKey::stride_c, int64_t(5));
  vary(&LtGemmKey::batch, 2);
  vary(&LtGemmKey::type, 14);
  EXPECT_EQ(keys.size(), 14u);
  EXPECT_EQ(keys.count(base), 1u);
}

}  // namespace
}  // namespace sy
