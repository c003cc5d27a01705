// tests/unit/checkpoint_roundtrip_test.cpp — save then load is bitwise exact, experts reshard
// across EP sizes, and the files match DESIGN.md §5 (checked with the HDF5 API and h5ls).
#include <fstream>
#include <sstream>

#include "io/checksum.h"
#include "io/hdf5_util.h"
#include "runtime/rng.h"
#include "tests/unit/checkpoint_fixture.h"

namespace sy {
namespace {

using test::FakeModel;
using test::same_bits;
using test::TempDir;
namespace fs = std::filesystem;

void expect_same_tensors(FakeModel& got, FakeModel& want, const std::function<bool(int)>& owns) {
  for (size_t i = 0; i < want.tensors().size(); ++i) {
    const test::FakeTensor& w = want.tensors()[i];
    const test::FakeTensor& g = got.tensors()[i];
    if (w.expert >= 0 && !owns(w.expert)) continue;
    EXPECT_TRUE(same_bits(g.value, w.value)) << w.name;
    EXPECT_TRUE(same_bits(g.exp_avg, w.exp_avg)) << "exp_avg " << w.name;
    EXPECT_TRUE(same_bits(g.exp_avg_sq, w.exp_avg_sq)) << "exp_avg_sq " << w.name;
  }
}

TEST(CheckpointRoundTrip, SingleRankSaveLoadIsBitwiseExact) {
  TempDir tmp;
  FakeModel saved(true);
  CheckpointMeta meta = test::make_meta(200, 1, 1);
  CheckpointTensors t = saved.lists();
  fs::path ckpt = save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(0, 1), 0, [](bool ok) { return ok; });
  EXPECT_EQ(ckpt, tmp.path() / "step-00000200");

  FakeModel loaded(false);
  test::load_as_rank(tmp.path(), loaded, 1, 0);  // through `latest`
  expect_same_tensors(loaded, saved, [](int) { return true; });

  CheckpointMeta got = read_checkpoint_meta(tmp.path());
  EXPECT_EQ(got.format_version, 1);
  EXPECT_EQ(got.ep_size, 1);
  EXPECT_EQ(got.experts_per_file, 8);
  EXPECT_EQ(got.world_size, 1);
  EXPECT_EQ(got.config, meta.config);
  EXPECT_EQ(got.trainer, meta.trainer);
  EXPECT_EQ(std::get<int64_t>(got.trainer.extra.at("loss_scale_exponent")), -3);
  EXPECT_EQ(std::get<double>(got.trainer.extra.at("best_eval_loss")), 2.71828);
}

TEST(CheckpointRoundTrip, ExpertsWrittenWithEp4ReadBackWithEp1248) {
  TempDir tmp;
  FakeModel saved(true);
  fs::path ckpt = test::save_as_ranks(tmp.path(), saved, 10, /*ep=*/4, /*world=*/8);
  for (int n = 0; n < 4; ++n) EXPECT_TRUE(fs::exists(ckpt / rank_file_name(n)));
  EXPECT_FALSE(fs::exists(ckpt / rank_file_name(4)));

  for (int ep : {1, 2, 4, 8}) {
    const int L = test::kExperts / ep;
    for (int p = 0; p < ep; ++p) {
      FakeModel loaded(false);
      test::load_as_rank(ckpt, loaded, ep, p);
      SCOPED_TRACE("reader ep=" + std::to_string(ep) + " p=" + std::to_string(p));
      expect_same_tensors(loaded, saved, [&](int e) { return e / L == p; });
    }
  }
}

TEST(CheckpointRoundTrip, ReshardedSaveLoadsLikeTheOriginal) {
  // ep=2 -> load as ep=8 ranks -> save with ep=8 -> load as ep=1: same bits.
  TempDir a, b;
  FakeModel saved(true);
  test::save_as_ranks(a.path(), saved, 3, 2, 2);
  FakeModel merged(false);
  for (int p = 0; p < 8; ++p) test::load_as_rank(a.path(), merged, 8, p);
  test::save_as_ranks(b.path(), merged, 3, 8, 8);
  FakeModel back(false);
  test::load_as_rank(b.path(), back, 1, 0);
  expect_same_tensors(back, saved, [](int) { return true; });
}

TEST(CheckpointRoundTrip, ListAndVerifyCoverEveryDataset) {
  TempDir tmp;
  FakeModel saved(true);
  fs::path ckpt = test::save_as_ranks(tmp.path(), saved, 1, 4, 4);
  CheckpointReader reader(tmp.path());
  EXPECT_EQ(reader.dir(), ckpt);
  std::vector<StoredTensor> all = reader.list();
  size_t expected = 0;
  for (const test::FakeTensor& t : saved.tensors()) expected += t.has_moments ? 3 : 1;
  EXPECT_EQ(all.size(), expected);
  bool found = false;
  for (const StoredTensor& t : all)
    if (t.name == "decoder/layers/3/moe_layer/experts/5/fc1/weight" && t.section == TensorSection::exp_avg_sq) {
      found = true;
      EXPECT_EQ(t.file, "model-rank-2.h5");
      EXPECT_EQ(t.expert, 5);
      EXPECT_EQ(t.shape, (Shape{6, 4}));
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(reader.verify(), expected);
}

TEST(CheckpointRoundTrip, DenseModelHasNoRankFiles) {
  TempDir tmp;
  std::vector<float> w = {1, 2, 3, 4, 5, 6}, got(6);
  CheckpointMeta meta = test::make_meta(5, 1, 2);
  meta.experts_per_file = 0;
  CheckpointTensors t;
  t.model.push_back({"decoder/fc1/weight", {2, 3}, w.data()});
  fs::path ckpt = save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(0, 1), 0, [](bool ok) { return ok; });
  EXPECT_FALSE(fs::exists(ckpt / rank_file_name(0)));
  load_tensors(ckpt, {{"decoder/fc1/weight", {2, 3}, got.data()}}, TensorSection::model);
  EXPECT_EQ(got, w);
}

TEST(CheckpointRoundTrip, LargeConfigText) {
  // Bigger than HDF5's 64 KiB compact-attribute limit.
  TempDir tmp;
  FakeModel saved(true);
  CheckpointMeta meta = test::make_meta(1, 1, 1);
  std::ostringstream config;
  for (int i = 0; i < 5000; ++i) config << "[section" << i << "]\nkey = value " << i << "\n";
  meta.config = config.str();
  ASSERT_GT(meta.config.size(), 70000u);
  CheckpointTensors t = saved.lists();
  save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(0, 1), 0, [](bool ok) { return ok; });
  EXPECT_EQ(read_checkpoint_meta(tmp.path()).config, meta.config);
}

TEST(CheckpointRoundTrip, TensorsLargerThanOneBlock) {
  // Written and read in ~1 MiB blocks of rows: odd row sizes, 1-D, rows > 1 MiB.
  test::ScopedBlockBytes small_blocks(1 << 20);
  TempDir tmp;
  std::vector<Shape> shapes = {{1000, 300}, {300001}, {2, 300000}, {3, 5, 70001}};
  std::vector<std::vector<float>> data(shapes.size()), got(shapes.size());
  CheckpointTensors t;
  std::vector<NamedTensor> wanted;
  for (size_t i = 0; i < shapes.size(); ++i) {
    data[i].resize(shape_numel(shapes[i]));
    Rng rng(3, i);
    for (float& x : data[i]) x = static_cast<float>(rng.normal());
    got[i].assign(data[i].size(), 0.0f);
    std::string name = "big/t" + std::to_string(i);
    t.model.push_back({name, shapes[i], data[i].data()});
    wanted.push_back({name, shapes[i], got[i].data()});
  }
  CheckpointMeta meta = test::make_meta(1, 1, 1);
  meta.experts_per_file = 0;
  fs::path ckpt = save_checkpoint(tmp.path(), meta, t, SaveRole::for_rank(0, 1), 0, [](bool ok) { return ok; });
  load_tensors(ckpt, wanted, TensorSection::model);
  h5::File f = h5::open_file_read(ckpt / "model-shared.h5");
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_TRUE(same_bits(got[i], data[i])) << i;
    h5::Dataset ds(H5Dopen2(f, ("/model/big/t" + std::to_string(i)).c_str(), H5P_DEFAULT));
    EXPECT_EQ(h5::read_attribute<uint64_t>(ds, "checksum", "test"), xxh64(data[i].data(), data[i].size() * 4));
  }
}

// The contract as an outside tool sees it: names, attributes, dtype, layout, checksum.
TEST(CheckpointContract, FilesDatasetsAndAttributes) {
  TempDir tmp;
  FakeModel saved(true);
  fs::path ckpt = test::save_as_ranks(tmp.path(), saved, 200, 4, 8);
  std::ifstream latest(tmp.path() / "latest");
  std::string line;
  std::getline(latest, line);
  EXPECT_EQ(line, "step-00000200");

  const std::string where = "test";
  {
    h5::File f = h5::open_file_read(ckpt / "model-shared.h5");
    EXPECT_EQ(h5::read_string_attribute(f, "format", where), "switchyard-moe");
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "format_version", where), 1);
    EXPECT_EQ(h5::read_string_attribute(f, "checksum_algorithm", where), "xxh64");
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "step", where), 200);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "ep_size", where), 4);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "experts_per_file", where), 2);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "world_size", where), 8);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "tokens_seen", where), 200 * 1024);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "data_cursor", where), 200 * 16 + 3);
    EXPECT_EQ(h5::read_attribute<uint64_t>(f, "rng_seed", where), 0xfeedfacecafebeefull);
    EXPECT_EQ(h5::read_attribute_array<uint64_t>(f, "rng_counters", where), (std::vector<uint64_t>{200, 401}));
    EXPECT_NE(h5::read_string_attribute(f, "config", where).find("num_experts = 8"), std::string::npos);
    EXPECT_FALSE(h5::has_attribute(f, "global_expert_ids"));
    EXPECT_TRUE(h5::exists(f, "/model/decoder/embed_tokens/weight"));
    EXPECT_TRUE(h5::exists(f, "/model/decoder/layers/1/moe_layer/gate/expert_bias"));
    EXPECT_FALSE(h5::exists(f, "/optimizer/exp_avg/decoder/layers/1/moe_layer/gate/expert_bias"));
    EXPECT_TRUE(h5::exists(f, "/optimizer/exp_avg_sq/decoder/layers/1/moe_layer/shared_experts/0/fc1/weight"));
    EXPECT_FALSE(h5::exists(f, "/model/decoder/layers/1/moe_layer/experts"));

    // A dataset: float32 LE, contiguous, checksum = xxh64 of its bytes.
    h5::Dataset ds(H5Dopen2(f, "/model/decoder/embed_tokens/weight", H5P_DEFAULT));
    ASSERT_TRUE(ds.valid());
    h5::Type type(H5Dget_type(ds));
    EXPECT_GT(H5Tequal(type, H5T_IEEE_F32LE), 0);
    h5::PropList dcpl(H5Dget_create_plist(ds));
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    const std::vector<float>& v = saved.tensors()[0].value;
    EXPECT_EQ(h5::read_attribute<uint64_t>(ds, "checksum", where), xxh64(v.data(), v.size() * 4));
  }
  for (int n = 0; n < 4; ++n) {
    h5::File f = h5::open_file_read(ckpt / rank_file_name(n));
    EXPECT_EQ(h5::read_string_attribute(f, "format", where), "switchyard-moe");
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "step", where), 200);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "ep_size", where), 4);
    EXPECT_EQ(h5::read_attribute<int64_t>(f, "experts_per_file", where), 2);
    EXPECT_EQ(h5::read_attribute_array<int64_t>(f, "global_expert_ids", where),
              (std::vector<int64_t>{2 * n, 2 * n + 1}));
    EXPECT_FALSE(h5::has_attribute(f, "config"));
    // Local ids 0 and 1 only, in every section.
    for (std::string s : {"/model/", "/optimizer/exp_avg/", "/optimizer/exp_avg_sq/"}) {
      EXPECT_TRUE(h5::exists(f, s + "decoder/layers/1/moe_layer/experts/0/fc1/weight"));
      EXPECT_TRUE(h5::exists(f, s + "decoder/layers/3/moe_layer/experts/1/fc1/weight"));
      EXPECT_FALSE(h5::exists(f, s + "decoder/layers/1/moe_layer/experts/2/fc1/weight"));
    }
    EXPECT_FALSE(h5::exists(f, "/model/decoder/embed_tokens"));
  }
}

TEST(CheckpointContract, H5lsListsTheModelTree) {
  TempDir tmp;
  FakeModel saved(true);
  fs::path ckpt = test::save_as_ranks(tmp.path(), saved, 2, 4, 4);
  fs::path out = tmp.path() / "h5ls.txt";
  std::string cmd = "h5ls -r " + (ckpt / "model-rank-1.h5").string() + " > " + out.string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("/model/decoder/layers/1/moe_layer/experts/1/fc2/weight Dataset {4, 6}"), std::string::npos)
      << text;
  EXPECT_NE(text.find("/optimizer/exp_avg_sq/decoder/layers/3/moe_layer/experts/0/fc1/weight Dataset {6, 4}"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sy
