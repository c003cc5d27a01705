// tests/unit/background_hasher_test.cpp — the helper-thread checksums used by checkpoint I/O
// give exactly the one-shot xxh64 and report the first mismatch in read order.
#include "io/background_hasher.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "io/checksum.h"
#include "runtime/error.h"

namespace sy {
namespace {

std::vector<unsigned char> pattern(size_t bytes, unsigned seed) {
  std::vector<unsigned char> v(bytes);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
  return v;
}

// Sizes on both sides of the inline threshold, including odd lengths and empty.
const size_t kSizes[] = {0, 7, 4096, BackgroundHasher::kInlineBytes - 1, BackgroundHasher::kInlineBytes,
                         BackgroundHasher::kInlineBytes * 3 + 13, 33};

TEST(BackgroundHasher, DigestsEqualOneShotXxh64InAnyWaitOrder) {
  std::vector<std::vector<unsigned char>> buffers;
  for (size_t i = 0; i < std::size(kSizes); ++i) buffers.push_back(pattern(kSizes[i], unsigned(i)));
  BackgroundHasher hasher;
  std::vector<BackgroundHasher::Ticket> tickets;
  for (const auto& b : buffers) tickets.push_back(hasher.submit(b.data(), b.size()));
  for (size_t i = buffers.size(); i-- > 0;)  // newest first
    EXPECT_EQ(hasher.wait(tickets[i]), xxh64(buffers[i].data(), buffers[i].size())) << "buffer " << i;
  // Waiting twice returns the same digest.
  EXPECT_EQ(hasher.wait(tickets[0]), xxh64(nullptr, 0));
}

TEST(BackgroundHasher, DestructorWaitsForQueuedWork) {
  std::vector<std::vector<unsigned char>> buffers;
  for (int i = 0; i < 8; ++i) buffers.push_back(pattern(BackgroundHasher::kInlineBytes * 2, unsigned(i)));
  {
    BackgroundHasher hasher;
    for (const auto& b : buffers) hasher.submit(b.data(), b.size());
  }  // must join after hashing, not read freed buffers (ASan would report it if buffers were freed first)
  SUCCEED();
}

TEST(ChecksumVerifier, PassesWhenEveryStoredDigestMatches) {
  auto a = pattern(BackgroundHasher::kInlineBytes * 2, 1), b = pattern(100, 2);
  ChecksumVerifier v;
  v.expect(a.data(), a.size(), xxh64(a.data(), a.size()), "a");
  v.expect(b.data(), b.size(), xxh64(b.data(), b.size()), "b");
  EXPECT_NO_THROW(v.finish());
}

TEST(ChecksumVerifier, ReportsTheFirstMismatchInReadOrder) {
  auto a = pattern(50, 1), b = pattern(BackgroundHasher::kInlineBytes * 2, 2), c = pattern(10, 3);
  ChecksumVerifier v;
  v.expect(a.data(), a.size(), xxh64(a.data(), a.size()), "file.h5: dataset /model/a");
  v.expect(b.data(), b.size(), xxh64(b.data(), b.size()) ^ 1, "file.h5: dataset /model/b");
  v.expect(c.data(), c.size(), 0, "file.h5: dataset /model/c");
  try {
    v.finish();
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("file.h5: dataset /model/b: checksum mismatch"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace sy
