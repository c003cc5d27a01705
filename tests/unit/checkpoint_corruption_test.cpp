// tests/unit/checkpoint_corruption_test.cpp — damaged checkpoints fail with one-line DataErrors
// that name the file and dataset: flipped bytes, truncation, missing files, wrong shapes.
#include <fstream>

#include "io/hdf5_util.h"
#include "tests/unit/checkpoint_fixture.h"

namespace sy {
namespace {

using test::expect_data_error;
using test::FakeModel;
using test::TempDir;
namespace fs = std::filesystem;

// A checkpoint written with ep = 4 (experts 2 per file) and a zeroed model to load into.
class CorruptCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override { ckpt_ = test::save_as_ranks(tmp_.path(), saved_, 50, 4, 4); }
  // File offset of a dataset's raw data.
  haddr_t data_offset(const fs::path& file, const std::string& dataset) {
    h5::File f = h5::open_file_read(file);
    h5::Dataset ds(H5Dopen2(f, dataset.c_str(), H5P_DEFAULT));
    return H5Dget_offset(ds);
  }
  void flip_byte(const fs::path& file, haddr_t offset) {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    io.get(c);
    io.seekp(static_cast<std::streamoff>(offset));
    io.put(static_cast<char>(c ^ 0x10));
  }
  void load_all() { test::load_as_rank(tmp_.path(), loaded_, 1, 0); }

  TempDir tmp_;
  FakeModel saved_{true};
  FakeModel loaded_{false};
  fs::path ckpt_;
};

TEST_F(CorruptCheckpoint, FlippedByteInExpertDataFailsTheChecksum) {
  // Expert 5 = local 1 of model-rank-2.h5.
  fs::path file = ckpt_ / "model-rank-2.h5";
  const std::string ds = "/optimizer/exp_avg_sq/decoder/layers/1/moe_layer/experts/1/fc2/weight";
  flip_byte(file, data_offset(file, ds) + 37);
  expect_data_error([&] { load_all(); }, {file.string(), ds, "checksum mismatch"});
  // Other ranks' experts still load.
  FakeModel other(false);
  EXPECT_NO_THROW(test::load_as_rank(tmp_.path(), other, 4, 1));
}

TEST_F(CorruptCheckpoint, FlippedByteInDenseDataFailsTheChecksum) {
  fs::path file = ckpt_ / "model-shared.h5";
  const std::string ds = "/model/decoder/layers/0/fc1/weight";
  flip_byte(file, data_offset(file, ds));
  expect_data_error([&] { load_all(); }, {file.string(), ds, "checksum"});
  EXPECT_THROW(CheckpointReader(ckpt_).verify(), DataError);
}

TEST(CorruptLargeDataset, FlippedByteInALaterBlockFailsTheChecksum) {
  test::ScopedBlockBytes small_blocks(1 << 20);
  TempDir tmp;
  std::vector<float> data(1 << 20, 0.25f), got(data.size());  // 4 MiB: four 1 MiB blocks
  CheckpointMeta meta = test::make_meta(1, 1, 1);
  meta.experts_per_file = 0;
  CheckpointTensors t;
  t.model.push_back({"decoder/big/weight", {1024, 1024}, data.data()});
  fs::path ckpt = save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(0, 1), 0, [](bool ok) { return ok; });
  fs::path file = ckpt / "model-shared.h5";
  haddr_t offset;
  {
    h5::File f = h5::open_file_read(file);
    h5::Dataset ds(H5Dopen2(f, "/model/decoder/big/weight", H5P_DEFAULT));
    offset = H5Dget_offset(ds);
  }
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(static_cast<std::streamoff>(offset + (3u << 20) + 123));
  io.put('\x55');
  io.close();
  expect_data_error(
      [&] {
        load_tensors(ckpt, {{"decoder/big/weight", {1024, 1024}, got.data()}}, TensorSection::model);
      },
      {file.string(), "/model/decoder/big/weight", "checksum mismatch"});
}

TEST_F(CorruptCheckpoint, TruncatedRankFileIsNamed) {
  fs::path file = ckpt_ / "model-rank-3.h5";
  for (uintmax_t cut : {uintmax_t{16}, fs::file_size(file) / 2}) {
    fs::resize_file(file, fs::file_size(file) - cut);
    expect_data_error([&] { load_all(); }, {file.string()});
  }
}

TEST_F(CorruptCheckpoint, TruncatedSharedFileIsNamed) {
  fs::path file = ckpt_ / "model-shared.h5";
  fs::resize_file(file, fs::file_size(file) - 100);
  expect_data_error([&] { read_checkpoint_meta(tmp_.path()); }, {file.string(), "truncated"});
  fs::resize_file(file, 0);
  expect_data_error([&] { read_checkpoint_meta(tmp_.path()); }, {file.string()});
}

TEST_F(CorruptCheckpoint, MissingRankFileIsNamed) {
  fs::path file = ckpt_ / "model-rank-2.h5";
  fs::remove(file);
  expect_data_error([&] { load_all(); }, {file.string(), "missing"});
  expect_data_error([&] { CheckpointReader(ckpt_).list(); }, {file.string(), "missing"});
}

TEST_F(CorruptCheckpoint, NotAnHdf5FileIsNamed) {
  fs::path file = ckpt_ / "model-rank-0.h5";
  std::ofstream(file, std::ios::trunc) << "this is not HDF5";
  expect_data_error([&] { load_all(); }, {file.string(), "cannot open"});
}

TEST_F(CorruptCheckpoint, WrongShapeRequestedIsNamed) {
  std::vector<float> buf(100);
  const std::string name = "decoder/layers/3/moe_layer/experts/6/fc1/weight";
  expect_data_error(
      [&] {
        load_tensors(ckpt_, {{name, {4, 6}, buf.data(), 6}}, TensorSection::model);
      },
      {(ckpt_ / "model-rank-3.h5").string(), "/model/decoder/layers/3/moe_layer/experts/0/fc1/weight",
       "[6, 4] in the checkpoint, [4, 6] requested"});
  expect_data_error(
      [&] {
        load_tensors(ckpt_, {{"decoder/embed_tokens/weight", {16}, buf.data()}}, TensorSection::exp_avg);
      },
      {"model-shared.h5", "/optimizer/exp_avg/decoder/embed_tokens/weight", "shape"});
}

TEST_F(CorruptCheckpoint, MissingDatasetOrExpertIsNamed) {
  std::vector<float> buf(100);
  expect_data_error(
      [&] {
        load_tensors(ckpt_, {{"decoder/layers/9/fc1/weight", {2}, buf.data()}}, TensorSection::model);
      },
      {"model-shared.h5", "no dataset /model/decoder/layers/9/fc1/weight"});
  expect_data_error(  // a buffer has no moments
      [&] {
        load_tensors(ckpt_, {{"decoder/layers/1/moe_layer/gate/expert_bias", {8}, buf.data()}}, TensorSection::exp_avg);
      },
      {"no dataset /optimizer/exp_avg/decoder/layers/1/moe_layer/gate/expert_bias"});
  expect_data_error(
      [&] {
        load_tensors(ckpt_, {{"decoder/layers/1/moe_layer/experts/8/fc1/bias", {6}, buf.data(), 8}},
                     TensorSection::model);
      },
      {"expert 8", "holds 8 experts"});
}

TEST_F(CorruptCheckpoint, WrongFormatAttributeIsNamed) {
  fs::path file = ckpt_ / "model-shared.h5";
  {
    h5::File f(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_TRUE(f.valid());
    ASSERT_GE(H5Adelete(f, "format"), 0);
    h5::write_string_attribute(f, "format", "fairseq", "test");
  }
  expect_data_error([&] { read_checkpoint_meta(ckpt_); }, {file.string(), "format = 'fairseq'"});
}

TEST_F(CorruptCheckpoint, RankFileFromAnotherCheckpointIsNamed) {
  TempDir other;
  fs::path other_ckpt = test::save_as_ranks(other.path(), saved_, 60, 4, 4);
  fs::copy_file(other_ckpt / "model-rank-1.h5", ckpt_ / "model-rank-1.h5", fs::copy_options::overwrite_existing);
  expect_data_error([&] { load_all(); }, {"model-rank-1.h5", "step = 60", "says 50"});
  // A rank file renamed into another's place.
  fs::copy_file(ckpt_ / "model-rank-0.h5", ckpt_ / "model-rank-1.h5", fs::copy_options::overwrite_existing);
  expect_data_error([&] { load_all(); }, {"model-rank-1.h5", "global_expert_ids"});
}

TEST(H5Check, NamesTheCallAndTheFileAndPrintsNothing) {
  h5::silence_errors();
  testing::internal::CaptureStderr();
  expect_data_error([] { SY_H5(H5Fopen("/nonexistent/x.h5", H5F_ACC_RDONLY, H5P_DEFAULT), "/nonexistent/x.h5"); },
                    {"/nonexistent/x.h5: H5Fopen(\"/nonexistent/x.h5\", H5F_ACC_RDONLY, H5P_DEFAULT) failed: ",
                     "No such file or directory", "checkpoint_corruption_test.cpp:"});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace sy
