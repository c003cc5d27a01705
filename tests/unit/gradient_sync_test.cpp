// tests/unit/gradient_sync_test.cpp — GradientSync: which buckets go out after which backward stage, and the sums copied back.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "comm/gradient_sync.h"

namespace sy {
namespace {

// A world of two ranks holding the same gradients: every all-reduce completes at
// once with twice its input, and is recorded (element count) in submission order.
class RecordingCollectives final : public Collectives {
 public:
  std::vector<int64_t> submitted;

  int rank(Group) const override { return 0; }
  int size(Group g) const override { return g == Group::world ? 2 : 1; }
  CommHandle all_to_all_v(Group, const void*, std::vector<int64_t>, void*, std::vector<int64_t>,
                          std::string) override {
    return unexpected();
  }
  CommHandle all_reduce_sum(Group, float* data, int64_t n, std::string) override {
    submitted.push_back(n);
    for (int64_t i = 0; i < n; ++i) data[i] *= 2;
    return done();
  }
  CommHandle all_reduce_sum(Group, double*, int64_t, std::string) override { return unexpected(); }
  CommHandle all_reduce_sum(Group, int64_t*, int64_t, std::string) override { return unexpected(); }
  CommHandle all_reduce_max(Group, int64_t*, int64_t, std::string) override { return unexpected(); }
  CommHandle broadcast(Group, void*, int64_t, int, std::string) override { return unexpected(); }
  CommHandle barrier(Group, std::string) override { return unexpected(); }
  CommTimes take_times() override { return {}; }

 private:
  static CommHandle done() {
    std::promise<void> p;
    p.set_value();
    return CommHandle(p.get_future().share());
  }
  static CommHandle unexpected() {
    ADD_FAILURE() << "GradientSync called a collective other than a float all-reduce";
    return done();
  }
};

constexpr int kLayers = 3;
constexpr double kBucketMb = 1000.0 * sizeof(float) / (1024 * 1024);  // buckets of 1000 floats

void add(ParameterSet<float>& params, const std::string& name, int64_t n, float g) {
  Parameter<float>& p = params.add(name, {n}, InitSpec::Normal());
  for (int64_t i = 0; i < n; ++i) p.grad[i] = g;
}

// Runs one backward's stages (head = kLayers, layers kLayers−1 … 0, embeddings
// = −1) and returns the element counts submitted after each.
std::vector<std::vector<int64_t>> submissions_per_stage(GradientSync& sync, RecordingCollectives& comm) {
  std::vector<std::vector<int64_t>> out;
  sync.begin();
  for (int stage = kLayers; stage >= -1; --stage) {
    const size_t before = comm.submitted.size();
    sync.stage_done(stage);
    out.emplace_back(comm.submitted.begin() + before, comm.submitted.end());
  }
  return out;
}

// The k-th parameter created had gradient k + 1 everywhere; the two-rank sum is twice that.
void expect_sums_copied_back(const ParameterSet<float>& params) {
  float g = 1;
  for (const auto& p : params) {
    for (int64_t i = 0; i < p.grad.numel(); ++i) ASSERT_EQ(p.grad[i], 2 * g) << p.name << "[" << i << "]";
    ++g;
  }
}

TEST(GradientSync, BucketGoesOutWhenItsStagesAreDoneNotHeldForALaterStage) {
  // Stages of 100 (head), 600 (layer 2), 500 (layer 1), 400 (layer 0), 900
  // (embeddings) floats.  Layers 2 and the head fill 700; layer 1 does not fit
  // beside them, so that bucket leaves after layer 2 instead of waiting for
  // layer 1; layers 1 and 0 share one (900); the embeddings go alone.
  ParameterSet<float> params;
  add(params, "decoder/embed_tokens/weight", 900, 1);
  add(params, "decoder/layers/0/a", 200, 2);
  add(params, "decoder/layers/0/b", 200, 3);
  add(params, "decoder/layers/1/a", 500, 4);
  add(params, "decoder/layers/2/a", 300, 5);
  add(params, "decoder/layers/2/b", 300, 6);
  add(params, "decoder/layer_norm/weight", 100, 7);
  RecordingCollectives comm;
  GradientSync sync(params, comm, kBucketMb, kLayers);
  EXPECT_EQ(sync.buckets(), 3u);

  const std::vector<std::vector<int64_t>> expected = {{}, {700}, {}, {900}, {900}};
  EXPECT_EQ(submissions_per_stage(sync, comm), expected);
  sync.finish();
  EXPECT_EQ(comm.submitted.size(), 3u) << "finish() submitted a bucket twice";
  expect_sums_copied_back(params);
}

TEST(GradientSync, StageLargerThanABucketIsSplitAndASingleLargeParameterGoesAlone) {
  ParameterSet<float> params;
  add(params, "decoder/layers/0/big", 1500, 1);  // larger than a bucket: a bucket of its own
  add(params, "decoder/layers/1/a", 600, 2);     // 1800 in layer 1: three buckets of 600
  add(params, "decoder/layers/1/b", 600, 3);
  add(params, "decoder/layers/1/c", 600, 4);
  RecordingCollectives comm;
  GradientSync sync(params, comm, kBucketMb, kLayers);
  EXPECT_EQ(sync.buckets(), 4u);
  const std::vector<std::vector<int64_t>> expected = {{}, {}, {600, 600, 600}, {1500}, {}};
  EXPECT_EQ(submissions_per_stage(sync, comm), expected);
  sync.finish();
  expect_sums_copied_back(params);
}

}  // namespace
}  // namespace sy
