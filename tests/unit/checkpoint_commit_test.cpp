// tests/unit/checkpoint_commit_test.cpp — the save protocol's directory side: `latest`,
// rotation, leftovers of crashed saves, re-saving a step, and resolving checkpoint paths.
#include <fstream>

#include "tests/unit/checkpoint_fixture.h"

namespace sy {
namespace {

using test::FakeModel;
using test::TempDir;
namespace fs = std::filesystem;

std::string read_latest(const fs::path& dir) {
  std::ifstream in(dir / "latest");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CheckpointCommit, LatestAndRotationKeepTwo) {
  TempDir tmp;
  FakeModel model(true);
  for (int64_t step : {100, 200, 300, 400}) {
    test::save_as_ranks(tmp.path(), model, step, 2, 2, /*keep=*/2);
    EXPECT_EQ(read_latest(tmp.path()), step_dir_name(step) + "\n");
    EXPECT_EQ(latest_checkpoint(tmp.path()), tmp.path() / step_dir_name(step));
  }
  EXPECT_EQ(entries(tmp.path()), (std::vector<std::string>{"latest", "step-00000300", "step-00000400"}));
  EXPECT_EQ(list_checkpoints(tmp.path()), (std::vector<int64_t>{300, 400}));
  EXPECT_EQ(resolve_checkpoint(tmp.path()), tmp.path() / "step-00000400");
  EXPECT_EQ(resolve_checkpoint(tmp.path() / "step-00000300"), tmp.path() / "step-00000300");
  EXPECT_EQ(read_checkpoint_meta(tmp.path()).trainer.step, 400);
  EXPECT_EQ(read_checkpoint_meta(tmp.path() / "step-00000300").trainer.step, 300);
}

TEST(CheckpointCommit, KeepZeroKeepsAll) {
  TempDir tmp;
  FakeModel model(true);
  for (int64_t step : {1, 2, 3}) test::save_as_ranks(tmp.path(), model, step, 1, 1, 0);
  EXPECT_EQ(list_checkpoints(tmp.path()), (std::vector<int64_t>{1, 2, 3}));
}

TEST(CheckpointCommit, RotationNeverRemovesTheCommittedCheckpoint) {
  // A run resumed from step 100 while an abandoned step 300 exists saves 200.
  TempDir tmp;
  FakeModel model(true);
  for (int64_t step : {100, 300}) test::save_as_ranks(tmp.path(), model, step, 1, 1, 0);
  test::save_as_ranks(tmp.path(), model, 200, 1, 1, 2);
  EXPECT_EQ(list_checkpoints(tmp.path()), (std::vector<int64_t>{200, 300}));
  EXPECT_EQ(resolve_checkpoint(tmp.path()), tmp.path() / "step-00000200");
}

TEST(CheckpointCommit, LeftoverPartialDirectoriesAreReplacedAndCleaned) {
  TempDir tmp;
  FakeModel model(true);
  test::save_as_ranks(tmp.path(), model, 100, 2, 2);
  // A crash mid-save of step 200 (junk and a half file), and one of step 150.
  for (const char* name : {"step-00000200.partial", "step-00000150.partial"}) {
    fs::create_directories(tmp.path() / name);
    std::ofstream(tmp.path() / name / "model-rank-1.h5") << "half a file";
    std::ofstream(tmp.path() / name / "model-rank-7.h5") << "from another layout";
  }
  // The crash left the previous checkpoint untouched and still named by latest.
  EXPECT_EQ(resolve_checkpoint(tmp.path()), tmp.path() / "step-00000100");

  fs::path ckpt = test::save_as_ranks(tmp.path(), model, 200, 2, 2);
  EXPECT_EQ(entries(tmp.path()), (std::vector<std::string>{"latest", "step-00000100", "step-00000200"}));
  EXPECT_EQ(entries(ckpt), (std::vector<std::string>{"model-rank-0.h5", "model-rank-1.h5", "model-shared.h5"}));
  FakeModel loaded(false);
  test::load_as_rank(tmp.path(), loaded, 1, 0);
  EXPECT_TRUE(test::same_bits(loaded.tensors().back().value, model.tensors().back().value));
}

TEST(CheckpointCommit, SavingTheSameStepAgainReplacesIt) {
  // A run resumed at step 7 with another EP size saves step 7 again.
  TempDir tmp;
  FakeModel first(true, 1), second(true, 2);
  test::save_as_ranks(tmp.path(), first, 7, 4, 4);
  fs::path ckpt = test::save_as_ranks(tmp.path(), second, 7, 2, 2);
  EXPECT_EQ(entries(tmp.path()), (std::vector<std::string>{"latest", "step-00000007"}));
  EXPECT_EQ(entries(ckpt), (std::vector<std::string>{"model-rank-0.h5", "model-rank-1.h5", "model-shared.h5"}));
  EXPECT_EQ(read_checkpoint_meta(tmp.path()).ep_size, 2);
  FakeModel loaded(false);
  test::load_as_rank(tmp.path(), loaded, 8, 5);
  for (size_t i = 0; i < loaded.tensors().size(); ++i)
    if (loaded.tensors()[i].expert == 5) {
      EXPECT_TRUE(test::same_bits(loaded.tensors()[i].value, second.tensors()[i].value));
    }
}

TEST(CheckpointCommit, IncompletePartialIsNotCommitted) {
  TempDir tmp;
  FakeModel model(true);
  test::save_as_ranks(tmp.path(), model, 1, 2, 2);
  fs::path partial = begin_checkpoint(tmp.path(), 2);
  CheckpointMeta meta = test::make_meta(2, 2, 2);
  CheckpointTensors t = model.lists();
  write_shared_file(partial, meta, t);
  write_rank_file(partial, 0, meta, t);  // rank 1's file never arrives
  test::expect_data_error([&] { commit_checkpoint(tmp.path(), 2, 0); }, {"model-rank-1.h5", "missing"});
  EXPECT_EQ(resolve_checkpoint(tmp.path()), tmp.path() / "step-00000001");
  EXPECT_FALSE(fs::exists(tmp.path() / "step-00000002"));
}

TEST(CheckpointCommit, FailureOnAnotherRankFailsEveryRank) {
  TempDir tmp;
  FakeModel model(true);
  CheckpointMeta meta = test::make_meta(3, 1, 2);
  CheckpointTensors t = model.lists();
  int calls = 0;
  // Rank 1's view: the coordinator prepared fine, then someone's write failed.
  auto all_ok = [&](bool ok) { return ok && ++calls < 2; };
  test::expect_data_error([&] { save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(1, 1), 0, all_ok); },
                          {"step-00000003.partial", "another rank"});
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(latest_checkpoint(tmp.path()));
}

TEST(CheckpointResolve, ErrorsNameThePath) {
  TempDir tmp;
  test::expect_data_error([&] { resolve_checkpoint(tmp.path() / "nope"); }, {"nope", "no such checkpoint"});
  test::expect_data_error([&] { resolve_checkpoint(tmp.path()); }, {tmp.path().string(), "no latest"});
  std::ofstream(tmp.path() / "latest") << "step-00000009\n";
  test::expect_data_error([&] { resolve_checkpoint(tmp.path()); }, {"latest", "step-00000009", "does not exist"});
  std::ofstream(tmp.path() / "latest") << "garbage\n";
  test::expect_data_error([&] { resolve_checkpoint(tmp.path()); }, {"latest", "garbage"});
}

}  // namespace
}  // namespace sy
