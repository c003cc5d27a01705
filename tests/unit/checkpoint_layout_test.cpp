// tests/unit/checkpoint_layout_test.cpp — checkpoint names, the expert id rewrite, and xxh64
// against the reference implementation's values.
#include "io/checkpoint_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/checksum.h"
#include "runtime/error.h"

namespace sy {
namespace {

TEST(CheckpointLayout, FileAndDirectoryNames) {
  EXPECT_EQ(std::string(kSharedFileName), "model-shared.h5");
  EXPECT_EQ(rank_file_name(0), "model-rank-0.h5");
  EXPECT_EQ(rank_file_name(12), "model-rank-12.h5");
  EXPECT_EQ(step_dir_name(200), "step-00000200");
  EXPECT_EQ(step_dir_name(0), "step-00000000");
  EXPECT_EQ(step_dir_name(123456789), "step-123456789");
  EXPECT_EQ(partial_dir_name(200), "step-00000200.partial");
  EXPECT_EQ(parse_step_dir_name("step-00000200"), 200);
  EXPECT_EQ(parse_step_dir_name("step-123456789"), 123456789);
  EXPECT_FALSE(parse_step_dir_name("step-0000200"));    // 7 digits
  EXPECT_FALSE(parse_step_dir_name("step-000000200"));  // leading zero beyond 8
  EXPECT_FALSE(parse_step_dir_name("step-00000200.partial"));
  EXPECT_FALSE(parse_step_dir_name("latest"));
  EXPECT_FALSE(parse_step_dir_name("step-0000020x"));
}

TEST(CheckpointLayout, Sections) {
  EXPECT_EQ(section_group(TensorSection::model), "/model");
  EXPECT_EQ(section_group(TensorSection::exp_avg), "/optimizer/exp_avg");
  EXPECT_EQ(section_group(TensorSection::exp_avg_sq), "/optimizer/exp_avg_sq");
  EXPECT_EQ(section_name(TensorSection::exp_avg_sq), "exp_avg_sq");
}

TEST(CheckpointLayout, ExpertLocationFollowsFairseq) {
  // E = 8, ep = 4: L = 2; expert 5 is local 1 of file 2.
  EXPECT_EQ(locate_expert(5, 2).file, 2);
  EXPECT_EQ(locate_expert(5, 2).local, 1);
  EXPECT_EQ(locate_expert(0, 8).file, 0);
  EXPECT_EQ(locate_expert(7, 1).file, 7);
  EXPECT_EQ(locate_expert(7, 1).local, 0);
}

TEST(CheckpointLayout, ExpertNameRewrite) {
  const std::string g = "decoder/layers/3/moe_layer/experts/13/fc1/weight";
  EXPECT_EQ(expert_id_in_name(g), 13);
  EXPECT_EQ(local_expert_name(g, 4), "decoder/layers/3/moe_layer/experts/1/fc1/weight");
  EXPECT_EQ(global_expert_name("decoder/layers/3/moe_layer/experts/1/fc1/weight", 3, 4), g);
  // The layer index is never touched, even when it equals the expert id.
  EXPECT_EQ(local_expert_name("decoder/layers/5/moe_layer/experts/5/fc2/bias", 4),
            "decoder/layers/5/moe_layer/experts/1/fc2/bias");
  // shared_experts is not "experts": not an expert name.
  EXPECT_EQ(expert_id_in_name("decoder/layers/1/moe_layer/shared_experts/0/fc1/weight"), -1);
  EXPECT_EQ(expert_id_in_name("decoder/layers/1/moe_layer/gate/expert_bias"), -1);
  EXPECT_EQ(expert_id_in_name("decoder/embed_tokens/weight"), -1);
  EXPECT_EQ(with_expert_id("a/experts/7", 0), "a/experts/0");
}

TEST(CheckpointLayout, ValidatesTensorNames) {
  EXPECT_NO_THROW(validate_tensor_name("decoder/layers/0/fc1/weight"));
  EXPECT_THROW(validate_tensor_name(""), DataError);
  EXPECT_THROW(validate_tensor_name("/decoder/x"), DataError);
  EXPECT_THROW(validate_tensor_name("decoder//x"), DataError);
  EXPECT_THROW(validate_tensor_name("decoder/x/"), DataError);
  EXPECT_THROW(validate_tensor_name("decoder/../x"), DataError);
}

// Expected values from libxxhash 0.8.1's XXH64(data, len, 0).
TEST(Checksum, Xxh64MatchesReference) {
  EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(xxh64("a", 1), 0xd24ec4f1a98c6e5bull);
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ull);
  unsigned char buf[800];
  for (int i = 0; i < 256 * 3; ++i) buf[i] = static_cast<unsigned char>(i);
  buf[768] = 'x', buf[769] = 'y', buf[770] = 'z';
  EXPECT_EQ(xxh64(buf, 771), 0xe921a1b45bd779f8ull);  // 32-byte stripes + 1-byte tail
  for (int i = 0; i < 111; ++i) buf[i] = static_cast<unsigned char>((i * 7 + 3) & 255);
  EXPECT_EQ(xxh64(buf, 111), 0x6638cbbdd5d3e9acull);  // stripes + 8-, 4- and 1-byte tails
  EXPECT_EQ(xxh64(buf, 15), 0x1b47cb8243cc8e32ull);   // short input path
}

TEST(Checksum, StreamingEqualsOneShotForAnySplit) {
  std::vector<unsigned char> buf(1000);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 131 + 7);
  for (size_t size : {0ul, 5ul, 31ul, 32ul, 33ul, 100ul, 1000ul})
    for (size_t piece : {1ul, 3ul, 8ul, 31ul, 32ul, 45ul, 1000ul}) {
      Xxh64 h;
      for (size_t at = 0; at < size; at += piece) h.update(buf.data() + at, std::min(piece, size - at));
      EXPECT_EQ(h.digest(), xxh64(buf.data(), size)) << "size " << size << " piece " << piece;
    }
}

}  // namespace
}  // namespace sy
