// tests/unit/data_source_test.cpp — DataSource purity, exact windows, llm.c shards, bad-data errors, synthetic achievable loss.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <vector>

#include "io/data_source.h"
#include "io/file_source.h"
#include "io/synthetic_source.h"
#include "runtime/error.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("sy_data_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// An llm.c shard; `header_count` < 0 means "the true token count".
void write_shard(const std::string& path, const std::vector<uint16_t>& tokens,
                 int32_t magic = kShardMagic, int32_t version = kShardVersion,
                 int32_t header_count = -1) {
  std::vector<int32_t> header(kShardHeaderInts, 0);
  header[0] = magic;
  header[1] = version;
  header[2] = header_count >= 0 ? header_count : static_cast<int32_t>(tokens.size());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(header.data()), kShardHeaderInts * 4);
  f.write(reinterpret_cast<const char*>(tokens.data()),
          static_cast<std::streamsize>(tokens.size() * 2));
}

std::vector<uint16_t> iota16(int first, int n) {
  std::vector<uint16_t> v(n);
  std::iota(v.begin(), v.end(), static_cast<uint16_t>(first));
  return v;
}

// Expects `fn` to throw E whose message contains every one of `parts`.
template <class E>
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.front();
  } catch (const E& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' does not mention '" << p << "'";
  }
}

std::vector<int32_t> sequences(const DataSource& src, uint64_t seed, int64_t step, int64_t first,
                               int64_t count, int64_t T) {
  std::vector<int32_t> out(count * (T + 1), -1);
  src.training_sequences(seed, step, first, count, T, out.data());
  return out;
}

// Rank r of W reads global indices [r·B, (r+1)·B) of a global batch of G; the
// concatenation must not depend on W.
void expect_world_size_invariant(const DataSource& src, int64_t T) {
  const int64_t G = 8, step = 7;
  const auto whole = sequences(src, 42, step, 0, G, T);
  for (int W : {1, 2, 4}) {
    std::vector<int32_t> joined;
    const int64_t B = G / W;
    for (int r = 0; r < W; ++r) {
      auto part = sequences(src, 42, step, r * B, B, T);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined, whole) << "W = " << W;
  }
  EXPECT_EQ(sequences(src, 42, step, 0, G, T), whole) << "same arguments, different tokens";
  EXPECT_NE(sequences(src, 42, step + 1, 0, G, T), whole) << "step does not change the data";
  EXPECT_NE(sequences(src, 43, step, 0, G, T), whole) << "seed does not change the data";
  EXPECT_NE(sequences(src, 42, step, 1, G, T), whole) << "index does not change the data";
}

// ---------------------------------------------------------------- synthetic

TEST(SyntheticSource, PureInSeedStepAndGlobalIndex) {
  auto src = make_data_source("synthetic", 256);
  expect_world_size_invariant(*src, 16);
}

TEST(SyntheticSource, AchievableLossIsTheRowEntropy) {
  SyntheticSource src(256, kDefaultSourceSeed);
  const double h = -(0.55 * std::log(0.55) + 0.25 * std::log(0.25) + 0.15 * std::log(0.15) +
                     0.05 * std::log(0.05));
  ASSERT_TRUE(src.achievable_loss().has_value());
  EXPECT_NEAR(*src.achievable_loss(), h, 1e-15);
  EXPECT_NEAR(h, 1.109739, 1e-6);
  for (int a = 0; a < 256; ++a) {
    std::set<int32_t> distinct(src.successors(a).begin(), src.successors(a).end());
    EXPECT_EQ(distinct.size(), 4u) << "token " << a;
  }
}

TEST(SyntheticSource, EmpiricalCrossEntropyOfTheChainMatchesAchievableLoss) {
  SyntheticSource src(64, kDefaultSourceSeed);
  const int64_t T = 128, n = 2000;  // 256k targets: standard error of the mean ≈ 0.0013 nats
  auto toks = sequences(src, 5, 1, 0, n, T);
  double sum = 0.0;
  std::vector<int64_t> first_counts(64, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* row = &toks[i * (T + 1)];
    ++first_counts[row[0]];
    for (int64_t t = 1; t <= T; ++t) {
      ASSERT_GE(row[t], 0);
      ASSERT_LT(row[t], 64);
      double lp = src.log_prob(row[t - 1], row[t]);
      ASSERT_TRUE(std::isfinite(lp)) << "a transition outside the chain";
      sum -= lp;
    }
  }
  EXPECT_NEAR(sum / static_cast<double>(n * T), *src.achievable_loss(), 0.008);
  // x_0 is uniform: 2000 draws over 64 tokens, ≈ 31 each.
  for (int a = 0; a < 64; ++a) EXPECT_GT(first_counts[a], 5) << "token " << a;
}

TEST(SyntheticSource, ChainDependsOnSourceSeedNotTrainingSeed) {
  SyntheticSource a(32, kDefaultSourceSeed), b(32, kDefaultSourceSeed), c(32, 99);
  bool differs = false;
  for (int t = 0; t < 32; ++t) {
    auto sa = a.successors(t), sb = b.successors(t), sc = c.successors(t);
    EXPECT_TRUE(std::equal(sa.begin(), sa.end(), sb.begin()));
    differs |= !std::equal(sa.begin(), sa.end(), sc.begin());
  }
  EXPECT_TRUE(differs);
  // Sequences drawn with any training seed follow the same chain.
  auto toks = sequences(a, 777, 3, 0, 4, 32);
  for (int i = 0; i < 4; ++i)
    for (int t = 1; t <= 32; ++t)
      EXPECT_TRUE(std::isfinite(b.log_prob(toks[i * 33 + t - 1], toks[i * 33 + t])));
}

TEST(SyntheticSource, EvalWindowsReadOneHeldOutStream) {
  SyntheticSource src(64, kDefaultSourceSeed);
  const int64_t T = 100;
  ASSERT_EQ(src.num_windows(T), (SyntheticSource::kHeldOutTokens - 1) / T);
  std::vector<int32_t> w0(T + 1), w1(T + 1), again(T + 1);
  src.window(0, T, w0.data());
  src.window(1, T, w1.data());
  src.window(0, T, again.data());
  EXPECT_EQ(w0, again);
  EXPECT_EQ(w0[T], w1[0]) << "window i covers [iT, iT + T]";
  for (int t = 1; t <= T; ++t) EXPECT_TRUE(std::isfinite(src.log_prob(w0[t - 1], w0[t])));
  // The held-out stream is not a training sample.
  EXPECT_NE(sequences(src, 0, 0, 0, 1, T), w0);
}

TEST(SyntheticSource, TooSmallVocabIsAConfigError) {
  expect_error<ConfigError>([] { make_data_source("synthetic", 3); }, {"model.vocab_size"});
}

// ---------------------------------------------------------------- text

TEST(TextSource, WindowsAreExact) {
  TempDir dir;
  const std::string path = dir.file("t.txt");
  write_bytes(path, {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'});
  auto src = make_data_source("text:" + path, 256);
  EXPECT_EQ(src->vocab_size(), 256);
  EXPECT_NE(src->describe().find(path), std::string::npos);
  ASSERT_EQ(src->num_windows(3), 3);  // floor((10 - 1) / 3)
  ASSERT_EQ(src->num_windows(4), 2);
  ASSERT_EQ(src->num_windows(9), 1);
  const char* expected[] = {"abcd", "defg", "ghij"};
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> w(4);
    src->window(i, 3, w.data());
    EXPECT_EQ(w, std::vector<int32_t>(expected[i], expected[i] + 4)) << "window " << i;
  }
}

TEST(TextSource, TrainingOffsetsCoverExactlyTheValidRange) {
  TempDir dir;
  const std::string path = dir.file("t.bin");
  std::vector<uint8_t> bytes(20);
  std::iota(bytes.begin(), bytes.end(), uint8_t{0});  // token value = its offset
  write_bytes(path, bytes);
  auto src = make_data_source("text:" + path, 256);
  const int64_t T = 4, n = 2000;
  auto toks = sequences(*src, 1, 1, 0, n, T);
  std::set<int32_t> starts;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* row = &toks[i * (T + 1)];
    for (int t = 1; t <= T; ++t) ASSERT_EQ(row[t], row[0] + t) << "rows are contiguous slices";
    starts.insert(row[0]);
  }
  EXPECT_EQ(*starts.begin(), 0);
  EXPECT_EQ(*starts.rbegin(), 20 - T - 1);  // uniform in [0, ntokens - seq_len - 1]
  EXPECT_EQ(starts.size(), 16u);
  expect_world_size_invariant(*src, T);
}

TEST(TextSource, ByteAboveSmallVocabIsADataError) {
  TempDir dir;
  const std::string path = dir.file("t.txt");
  write_bytes(path, {1, 2, 3, 200, 4, 5});
  expect_error<DataError>([&] { make_data_source("text:" + path, 100); },
                          {path, "offset 3", "200", "model.vocab_size"});
  EXPECT_NO_THROW(make_data_source("text:" + path, 201));
}

TEST(TextSource, MissingOrUnreadableFileIsADataError) {
  TempDir dir;
  const std::string missing = dir.file("nope.txt");
  expect_error<DataError>([&] { make_data_source("text:" + missing, 256); }, {missing});
  const std::string directory = dir.file("subdir");
  fs::create_directories(directory);
  expect_error<DataError>([&] { make_data_source("text:" + directory, 256); }, {directory});
  if (::geteuid() != 0) {  // root reads anything
    const std::string locked = dir.file("locked.txt");
    write_bytes(locked, {1, 2, 3});
    ::chmod(locked.c_str(), 0);
    expect_error<DataError>([&] { make_data_source("text:" + locked, 256); }, {locked});
  }
  try {
    make_data_source("text:" + missing, 256);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::data);
  }
}

TEST(TextSource, StreamShorterThanOneSequenceIsADataError) {
  TempDir dir;
  const std::string path = dir.file("short.txt");
  write_bytes(path, {1, 2, 3, 4});
  auto src = make_data_source("text:" + path, 256);
  EXPECT_NO_THROW(src->validate(3));  // 4 tokens = exactly one sequence of 3 + 1
  expect_error<DataError>([&] { src->validate(4); }, {path, "4 tokens"});
  expect_error<DataError>([&] { sequences(*src, 1, 1, 0, 1, 4); }, {path});
  expect_error<DataError>([&] { src->num_windows(4); }, {path});
  const std::string empty = dir.file("empty.txt");
  write_bytes(empty, {});
  auto esrc = make_data_source("text:" + empty, 256);
  expect_error<DataError>([&] { esrc->validate(1); }, {empty, "0 tokens"});
}

// ---------------------------------------------------------------- llm.c shards

TEST(ShardSource, SortedFilesFormOneStream) {
  TempDir dir;
  // Written out of order, with an empty shard in the middle: glob sorts them.
  write_shard(dir.file("shard_002.bin"), iota16(15, 15));
  write_shard(dir.file("shard_000.bin"), iota16(0, 10));
  write_shard(dir.file("shard_001a.bin"), {});
  write_shard(dir.file("shard_001b.bin"), iota16(10, 5));
  write_bytes(dir.file("other.txt"), {1, 2, 3});
  auto src = make_data_source("shards:" + dir.file("shard_*.bin"), 256);
  auto* fsrc = dynamic_cast<FileSource*>(src.get());
  ASSERT_NE(fsrc, nullptr);
  ASSERT_EQ(fsrc->num_tokens(), 30);
  EXPECT_NE(src->describe().find("4 files, 30 tokens"), std::string::npos) << src->describe();
  std::vector<int32_t> all(30);
  fsrc->read(0, 30, all.data());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(all[i], i);
  // Windows of T = 4 cross the file boundaries at tokens 10 and 15.
  ASSERT_EQ(src->num_windows(4), 7);  // floor(29 / 4)
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> w(5);
    src->window(i, 4, w.data());
    for (int t = 0; t <= 4; ++t) EXPECT_EQ(w[t], 4 * i + t) << "window " << i;
  }
  const int64_t T = 6, n = 1000;
  auto toks = sequences(*src, 9, 2, 0, n, T);
  std::set<int32_t> starts;
  for (int64_t i = 0; i < n; ++i) {
    for (int t = 1; t <= T; ++t) ASSERT_EQ(toks[i * (T + 1) + t], toks[i * (T + 1)] + t);
    starts.insert(toks[i * (T + 1)]);
  }
  EXPECT_EQ(starts.size(), 24u);  // offsets 0 .. 30 - 6 - 1
  EXPECT_EQ(*starts.rbegin(), 23);
  expect_world_size_invariant(*src, T);
}

TEST(ShardSource, LargeTokenIdsAndSingleFile) {
  TempDir dir;
  const std::string path = dir.file("big.bin");
  write_shard(path, {50256, 0, 65535, 7});
  auto src = make_data_source("shards:" + path, 65536);
  std::vector<int32_t> w(4);
  src->window(0, 3, w.data());
  EXPECT_EQ(w, (std::vector<int32_t>{50256, 0, 65535, 7}));
}

TEST(ShardSource, GlobMatchingNothingIsADataError) {
  TempDir dir;
  const std::string pattern = dir.file("*.bin");
  expect_error<DataError>([&] { make_data_source("shards:" + pattern, 256); },
                          {pattern, "matched no files"});
}

TEST(ShardSource, WrongMagicIsADataErrorWithHint) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_shard(path, iota16(0, 8), 12345);
  expect_error<DataError>([&] { make_data_source("shards:" + path, 256); },
                          {path, "bad magic 12345", "20240520", "HINT"});
}

TEST(ShardSource, WrongVersionIsADataError) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_shard(path, iota16(0, 8), kShardMagic, 2);
  expect_error<DataError>([&] { make_data_source("shards:" + path, 256); },
                          {path, "version 2", "expected 1", "HINT"});
}

TEST(ShardSource, HeaderCountNotMatchingFileSizeIsADataError) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_shard(path, iota16(0, 8), kShardMagic, kShardVersion, 9);
  expect_error<DataError>([&] { make_data_source("shards:" + path, 256); },
                          {path, "9 tokens", "1042", "1040"});
  const std::string tiny = dir.file("tiny.bin");
  write_bytes(tiny, {1, 2, 3});
  expect_error<DataError>([&] { make_data_source("shards:" + tiny, 256); }, {tiny, "header"});
}

TEST(ShardSource, TokenIdAtLeastVocabIsADataError) {
  TempDir dir;
  write_shard(dir.file("a.bin"), iota16(0, 8));
  const std::string bad = dir.file("b.bin");
  write_shard(bad, {1, 2, 3, 4, 5, 300, 6});
  expect_error<DataError>([&] { make_data_source("shards:" + dir.file("*.bin"), 256); },
                          {bad, "300", "offset 5", "byte offset 1034", "model.vocab_size = 256"});
}

TEST(ShardSource, StreamShorterThanOneSequenceIsADataError) {
  TempDir dir;
  write_shard(dir.file("a.bin"), iota16(0, 3));
  write_shard(dir.file("b.bin"), iota16(3, 2));
  const std::string pattern = dir.file("*.bin");
  auto src = make_data_source("shards:" + pattern, 256);
  EXPECT_NO_THROW(src->validate(4));
  expect_error<DataError>([&] { src->validate(5); }, {pattern, "5 tokens"});
}

// ---------------------------------------------------------------- factory

TEST(MakeDataSource, UnknownSpecIsAConfigErrorNamingTheKey) {
  for (const char* spec : {"bogus", "text:", "shards:", "synthetic:x", "TEXT:a"})
    expect_error<ConfigError>([&] { make_data_source(spec, 256); }, {"data.source", spec});
}

}  // namespace
}  // namespace sy
