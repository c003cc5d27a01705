// tests/unit/checkpoint_fuzz_test.cpp — a seeded mutation loop over a small checkpoint: whatever
// the damage, CheckpointReader either loads the original bits or throws DataError, silently.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

#include "io/hdf5_util.h"
#include "runtime/rng.h"
#include "tests/unit/checkpoint_fixture.h"

namespace sy {
namespace {

using test::FakeModel;
using test::TempDir;
namespace fs = std::filesystem;
using Bytes = std::vector<char>;

// Enough to hit every mutation on every file dozens of times; the loop takes well
// under a second in a release build and a few seconds under ASan.
// SY_FUZZ_ITERATIONS=N runs a longer campaign by hand (same seed, more iterations).
const int kIterations = getenv("SY_FUZZ_ITERATIONS") ? std::atoi(getenv("SY_FUZZ_ITERATIONS")) : 200;
constexpr uint64_t kSeed = 0x5eedf00dull;

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

enum class Mutation { flip_bytes, overwrite_range, truncate, append_garbage, zero_block, count };

const char* mutation_name(Mutation m) {
  switch (m) {
    case Mutation::flip_bytes: return "flip_bytes";
    case Mutation::overwrite_range: return "overwrite_range";
    case Mutation::truncate: return "truncate";
    case Mutation::append_garbage: return "append_garbage";
    case Mutation::zero_block: return "zero_block";
    default: return "?";
  }
}

// Damages `b` in place; returns a short description for failure messages.
std::string mutate(Bytes& b, Mutation m, Rng& rng) {
  const size_t n = b.size();
  auto offset = [&] { return static_cast<size_t>(rng.below(n)); };
  auto span = [&](size_t at, uint64_t max_len) { return std::min<size_t>(n - at, 1 + rng.below(max_len)); };
  std::string what = mutation_name(m);
  switch (m) {
    case Mutation::flip_bytes: {
      int k = 1 + static_cast<int>(rng.below(8));
      for (int i = 0; i < k; ++i) {
        size_t at = offset();
        b[at] = static_cast<char>(b[at] ^ static_cast<char>(1 + rng.below(255)));
        what += " @" + std::to_string(at);
      }
      break;
    }
    case Mutation::overwrite_range: {
      size_t at = offset(), len = span(at, 256);
      for (size_t i = 0; i < len; ++i) b[at + i] = static_cast<char>(rng.next_u64());
      what += " [" + std::to_string(at) + ", +" + std::to_string(len) + ")";
      break;
    }
    case Mutation::truncate: {
      size_t at = offset();
      b.resize(at);
      what += " to " + std::to_string(at);
      break;
    }
    case Mutation::append_garbage: {
      size_t len = 1 + rng.below(4096);
      for (size_t i = 0; i < len; ++i) b.push_back(static_cast<char>(rng.next_u64()));
      what += " +" + std::to_string(len);
      break;
    }
    case Mutation::zero_block: {
      size_t at = offset(), len = span(at, 2048);
      std::fill(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len), 0);
      what += " [" + std::to_string(at) + ", +" + std::to_string(len) + ")";
      break;
    }
    default: break;
  }
  return what;
}

// What a loaded model must match on success: every tensor and moment, bit for bit.
bool same_model(FakeModel& got, FakeModel& want) {
  for (size_t i = 0; i < want.tensors().size(); ++i) {
    const test::FakeTensor &w = want.tensors()[i], &g = got.tensors()[i];
    if (!test::same_bits(g.value, w.value) || !test::same_bits(g.exp_avg, w.exp_avg) ||
        !test::same_bits(g.exp_avg_sq, w.exp_avg_sq))
      return false;
  }
  return true;
}

TEST(CheckpointFuzz, MutatedFilesLoadIntactOrFailWithDataError) {
  TempDir tmp;
  FakeModel saved(true);
  // ep = 2: one shared file and two rank files, each a few KiB.
  fs::path good = test::save_as_ranks(tmp.path() / "good", saved, 50, 2, 2);
  const std::vector<std::string> names = {std::string(kSharedFileName), rank_file_name(0), rank_file_name(1)};
  std::map<std::string, Bytes> original;
  for (const std::string& name : names) original[name] = read_bytes(good / name);
  const fs::path work = tmp.path() / "work" / good.filename();
  fs::create_directories(work);

  int data_errors = 0, successes = 0;
  std::map<std::string, std::pair<int, int>> by_kind;  // mutation -> (DataError, success)
  testing::internal::CaptureStderr();
  for (int it = 0; it < kIterations; ++it) {
    Rng rng(kSeed, static_cast<uint64_t>(it));
    // The shared file is opened first and holds the metadata: give it half the hits.
    const std::string& target = rng.below(2) == 0 ? names[0] : names[1 + rng.below(2)];
    const auto kind = static_cast<Mutation>(rng.below(static_cast<uint64_t>(Mutation::count)));
    std::string what;
    for (const std::string& name : names) {
      Bytes b = original[name];
      if (name == target) what = mutate(b, kind, rng);
      write_bytes(work / name, b);
    }
    // SY_FUZZ_TRACE=1 prints each iteration first: how a hang is pinned down.
    if (getenv("SY_FUZZ_TRACE")) std::fprintf(stdout, "it %d %s %s\n", it, target.c_str(), what.c_str()), fflush(stdout);
    const std::string trace = "iteration " + std::to_string(it) + ": " + target + " " + what;
    try {
      CheckpointReader reader(work);
      reader.verify();
      FakeModel loaded(false);
      CheckpointTensors t = loaded.lists();
      reader.load(t.model, TensorSection::model);
      reader.load(t.exp_avg, TensorSection::exp_avg);
      reader.load(t.exp_avg_sq, TensorSection::exp_avg_sq);
      // Success is only acceptable with the saved bits: the checksums must
      // catch damaged tensor data.
      EXPECT_TRUE(same_model(loaded, saved)) << trace << ": loaded without error but the tensors differ";
      ++successes;
      ++by_kind[mutation_name(kind)].second;
    } catch (const DataError& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << trace << ": " << msg;
      ++data_errors;
      ++by_kind[mutation_name(kind)].first;
    } catch (const std::exception& e) {
      ADD_FAILURE() << trace << ": " << typeid(e).name() << ": " << e.what();
    } catch (...) {
      ADD_FAILURE() << trace << ": a non-std exception";
    }
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "") << "HDF5 (or the reader) wrote to stderr";

  std::printf("[ fuzz     ] %d iterations: %d DataError, %d success\n", kIterations, data_errors, successes);
  for (const auto& [kind, counts] : by_kind)
    std::printf("[ fuzz     ]   %-16s DataError %3d  success %3d\n", kind.c_str(), counts.first, counts.second);
  EXPECT_EQ(data_errors + successes, kIterations);
  // The loop must actually exercise both outcomes, or it tests nothing.
  EXPECT_GT(data_errors, kIterations / 4);
  EXPECT_GT(successes, 0);
}

}  // namespace
}  // namespace sy
