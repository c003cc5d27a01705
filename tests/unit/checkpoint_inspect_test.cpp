// tests/unit/checkpoint_inspect_test.cpp — exact values of io/checkpoint_inspect's statistics, diffs,
// sizes and ckpt.dir scan.
#include "io/checkpoint_inspect.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>

#include "runtime/error.h"

namespace sy {
namespace {

TEST(CheckpointInspect, StatsAreExact) {
  const float v[] = {3, -4, 0, 1};
  const TensorStats s = tensor_stats(v, 4);
  EXPECT_EQ(s.min, -4);
  EXPECT_EQ(s.max, 3);
  EXPECT_EQ(s.mean, 0);
  EXPECT_DOUBLE_EQ(s.l2, std::sqrt(26.0));
}

TEST(CheckpointInspect, DiffAbsAndRel) {
  const float a[] = {1, 0, -2, 0};
  const float b[] = {1.5f, 0, -2, 0.25f};
  const TensorDiff d = tensor_diff(a, b, 4);
  EXPECT_EQ(d.max_abs, 0.5);
  EXPECT_EQ(d.max_rel, 1.0);  // 0 vs 0.25: all of it
  EXPECT_EQ(tensor_diff(a, a, 4).max_abs, 0);
  EXPECT_EQ(tensor_diff(a, a, 4).max_rel, 0);
}

TEST(CheckpointInspect, HumanBytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(3ull << 30), "3.0 GiB");
}

TEST(CheckpointInspect, ScanOrdersAndMarks) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sy_inspect_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "step-00000010");
  fs::create_directories(dir / "step-00000002");
  fs::create_directories(dir / "step-00000010.partial");
  fs::create_directories(dir / "other");
  std::ofstream(dir / "step-00000010" / "model-shared.h5") << "12345";
  std::ofstream(dir / "latest") << "step-00000010\n";
  const auto e = scan_checkpoint_dir(dir);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].name, "step-00000002");
  EXPECT_EQ(e[1].name, "step-00000010");
  EXPECT_TRUE(e[1].complete && e[1].latest);
  EXPECT_EQ(e[1].bytes, 5u);
  EXPECT_EQ(e[2].name, "step-00000010.partial");
  EXPECT_FALSE(e[2].complete || e[2].latest);
  EXPECT_FALSE(e[0].latest);
  fs::remove_all(dir);
  EXPECT_THROW(scan_checkpoint_dir(dir), DataError);
}

}  // namespace
}  // namespace sy
