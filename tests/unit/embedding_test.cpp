// tests/unit/embedding_test.cpp — Embedding<T>: sinusoidal table values, learned positions with an offset,
// √d scaling, parameter registration, and the table gradients by finite differences.
#include "model/embedding.h"

#include <cmath>

#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

ModelConfig small_config(Positions pos, int offset = 0, bool scale = false, int d = 8) {
  ModelConfig cfg;
  cfg.vocab_size = 11;
  cfg.d_model = d;
  cfg.max_seq_len = 6;
  cfg.positions = pos;
  cfg.position_offset = offset;
  cfg.scale_embeddings = scale;
  return cfg;
}

// DESIGN §3, written out independently of the implementation.
double sinusoid(int64_t pos, int64_t col, int64_t d) {
  const int64_t half = d / 2;
  if (col >= 2 * half) return 0.0;  // odd d: the last column is zero
  const int64_t i = col % half;
  const double w = std::pow(10000.0, -double(i) / double(half - 1));
  return col < half ? std::sin(double(pos) * w) : std::cos(double(pos) * w);
}

TEST(Embedding, SinusoidalTableFollowsFairseqFormula) {
  for (int64_t d : {8, 9}) {
    Tensor<double> pe = sinusoidal_positions<double>(10, d);
    for (int64_t p = 0; p < 10; ++p)
      for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(pe[p * d + c], sinusoid(p, c, d), 1e-14) << p << "," << c;
  }
  // A few exact entries (d = 8: ω_0 = 1, ω_3 = 1e-4).
  Tensor<double> pe = sinusoidal_positions<double>(4, 8);
  EXPECT_EQ(pe[0 * 8 + 0], 0.0);
  EXPECT_EQ(pe[0 * 8 + 4], 1.0);
  EXPECT_DOUBLE_EQ(pe[1 * 8 + 0], std::sin(1.0));
  EXPECT_DOUBLE_EQ(pe[1 * 8 + 4], std::cos(1.0));
  EXPECT_NEAR(pe[3 * 8 + 3], std::sin(3e-4), 1e-18);  // ω_3 = exp(−ln 10⁴) is 1e-4 up to rounding
  EXPECT_NEAR(pe[3 * 8 + 7], std::cos(3e-4), 1e-15);
  EXPECT_EQ(sinusoidal_positions<double>(2, 9)[1 * 9 + 8], 0.0);
}

TEST(Embedding, SinusoidalForwardAddsShiftedTableAndIsNotAParameter) {
  auto be = make_cpu_backend<double>();
  for (int offset : {0, 2}) {
    ParameterSet<double> ps;
    Embedding<double> emb(ps, small_config(Positions::sinusoidal, offset));
    init_parameters(ps, 3);
    EXPECT_EQ(ps.size(), 1u);  // only the token table
    EXPECT_EQ(emb.sinusoidal_table().shape(), (Shape{6 + offset, 8}));
    StepContext ctx;
    ctx.batch = 2;
    ctx.seq_len = 3;
    const int32_t ids[6] = {1, 2, 3, 10, 0, 1};
    Tensor<double> h({6, 8});
    emb.forward(be, ctx, ids, h.data());
    const auto& tok = emb.token_table()->value;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < 3; ++t)
        for (int64_t c = 0; c < 8; ++c)
          EXPECT_NEAR(h[(b * 3 + t) * 8 + c], tok[ids[b * 3 + t] * 8 + c] + sinusoid(t + offset, c, 8), 1e-14);
    // Exact entries: the first token of each sequence sits at position `offset`.
    EXPECT_DOUBLE_EQ(h[0] - tok[1 * 8 + 0], offset == 0 ? 0.0 : std::sin(2.0));
    EXPECT_DOUBLE_EQ(h[4] - tok[1 * 8 + 4], offset == 0 ? 1.0 : std::cos(2.0));
  }
}

TEST(Embedding, LearnedPositionsWithOffsetAndScale) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Embedding<double> emb(ps, small_config(Positions::learned, 2, /*scale=*/true));
  init_parameters(ps, 3);
  ASSERT_EQ(ps.size(), 2u);
  auto& pos = ps.at("decoder/embed_positions/weight");
  auto& tok = ps.at("decoder/embed_tokens/weight");
  EXPECT_EQ(pos.value.shape(), (Shape{8, 8}));  // max_seq_len + offset rows
  EXPECT_EQ(tok.value.shape(), (Shape{11, 8}));
  EXPECT_EQ(tok.init.std, 1.0 / std::sqrt(8.0));  // fairseq init with scaled embeddings
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 3;
  const int32_t ids[6] = {4, 4, 0, 7, 10, 4};
  Tensor<double> h({6, 8});
  emb.forward(be, ctx, ids, h.data());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t c = 0; c < 8; ++c)
        EXPECT_NEAR(h[(b * 3 + t) * 8 + c],
                    std::sqrt(8.0) * tok.value[ids[b * 3 + t] * 8 + c] + pos.value[(t + 2) * 8 + c], 1e-14);
}

TEST(Embedding, RopeAddsNothingAndDefaultInitIsGpt2) {
  auto be = make_cpu_backend<float>();
  ParameterSet<float> ps;
  Embedding<float> emb(ps, small_config(Positions::rope));
  init_parameters(ps, 3);
  EXPECT_EQ(ps.size(), 1u);
  EXPECT_EQ(emb.position_table(), nullptr);
  EXPECT_EQ(emb.token_table()->init.std, 0.02);
  StepContext ctx;
  ctx.batch = 1;
  ctx.seq_len = 8;  // rope: no position table, so longer than max_seq_len is allowed here
  const int32_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  Tensor<float> h({8, 8});
  emb.forward(be, ctx, ids, h.data());
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(h[i], emb.token_table()->value[i]);
}

TEST(Embedding, RejectsBadIdsAndTooLongSequences) {
  auto be = make_cpu_backend<float>();
  ParameterSet<float> ps;
  Embedding<float> emb(ps, small_config(Positions::learned));
  StepContext ctx;
  ctx.batch = 1;
  ctx.seq_len = 2;
  Tensor<float> h({7, 8});
  const int32_t bad[2] = {3, 11};
  EXPECT_THROW(emb.forward(be, ctx, bad, h.data()), DataError);
  ctx.seq_len = 7;
  const int32_t ok[7] = {0, 1, 2, 3, 4, 5, 6};
  EXPECT_THROW(emb.forward(be, ctx, ok, h.data()), ConfigError);
}

class EmbeddingGrad : public ::testing::TestWithParam<Positions> {};

TEST_P(EmbeddingGrad, TableGradientsMatchFiniteDifferences) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Embedding<double> emb(ps, small_config(GetParam(), 2, /*scale=*/true, /*d=*/5));
  init_parameters(ps, 3);
  StepContext ctx;
  ctx.batch = 3;
  ctx.seq_len = 4;
  const int32_t ids[12] = {1, 2, 2, 9, 0, 1, 1, 10, 9, 9, 3, 2};
  Tensor<double> h({12, 5}), w({12, 5});
  test::fill_normal(w, 5);
  auto loss = [&] {
    emb.forward(be, ctx, ids, h.data());
    return test::weighted_sum(h.data(), w.data(), h.numel());
  };
  ps.zero_grad();
  emb.backward(be, ctx, ids, w.data());
  for (auto& p : ps) test::expect_gradient(p.name, p.value.data(), p.value.numel(), p.grad.data(), loss);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EmbeddingGrad,
                         ::testing::Values(Positions::learned, Positions::sinusoidal, Positions::rope));

}  // namespace
}  // namespace sy
