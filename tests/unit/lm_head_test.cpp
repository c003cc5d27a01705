// tests/unit/lm_head_test.cpp — LmHead<T>: tied and untied output projection, loss and gradients by finite
// differences, chunking independence, log V for uniform logits.
#include "model/lm_head.h"

#include <cmath>

#include "model/embedding.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

ModelConfig head_config(bool tied) {
  ModelConfig cfg;
  cfg.vocab_size = 7;
  cfg.d_model = 4;
  cfg.positions = Positions::rope;
  cfg.tie_embeddings = tied;
  return cfg;
}

constexpr int64_t N = 5;
const int32_t kTargets[N] = {0, 6, 3, 3, 1};

class LmHeadGrad : public ::testing::TestWithParam<bool> {};

TEST_P(LmHeadGrad, LossAndGradientsMatchFiniteDifferences) {
  const bool tied = GetParam();
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Embedding<double> emb(ps, head_config(tied));
  LmHead<double> head(ps, head_config(tied), emb.token_table(), /*chunk_rows=*/2);
  init_parameters(ps, 9);
  for (auto& p : ps) test::fill_normal(p.value, fnv1a(p.name), 0.7);
  EXPECT_EQ(ps.size(), tied ? 1u : 2u);
  EXPECT_EQ(head.output_weight(), tied ? emb.token_table() : &ps.at("decoder/output_projection/weight"));

  Tensor<double> h({N, 4}), dh({N, 4}), logits({N, 7});
  test::fill_normal(h, 1);
  // Direct loss from the logits.
  head.logits(be, h.data(), N, logits.data());
  double ref = 0;
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t v = 0; v < 7; ++v) {
      double z = 0;
      for (int64_t i = 0; i < 4; ++i) z += h[n * 4 + i] * head.output_weight()->value[v * 4 + i];
      EXPECT_NEAR(logits[n * 7 + v], z, 1e-12);
      s += std::exp(z);
    }
    ref += std::log(s) - logits[n * 7 + kTargets[n]];
  }
  const double scale = 0.3;
  ps.zero_grad();
  const double loss = head.forward_backward(be, h.data(), kTargets, N, scale, dh.data());
  EXPECT_NEAR(loss, ref, 1e-12);
  EXPECT_NEAR(head.forward_loss(be, h.data(), kTargets, N), ref, 1e-12);
  auto scaled_loss = [&] { return scale * head.forward_loss(be, h.data(), kTargets, N); };
  test::expect_gradient("dh", h.data(), h.numel(), dh.data(), scaled_loss);
  Parameter<double>* W = head.output_weight();
  test::expect_gradient("dWout", W->value.data(), W->value.numel(), W->grad.data(), scaled_loss);
}

INSTANTIATE_TEST_SUITE_P(TiedAndUntied, LmHeadGrad, ::testing::Bool());

TEST(LmHead, ChunkingDoesNotChangeResults) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  LmHead<double> head(ps, head_config(false), nullptr);
  init_parameters(ps, 9);
  Tensor<double> h({N, 4}), dh_one({N, 4}), dh_chunked({N, 4}), dw_one({7, 4});
  test::fill_normal(h, 1);
  head.set_chunk_rows(1000);
  const double loss_one = head.forward_backward(be, h.data(), kTargets, N, 1.0, dh_one.data());
  Parameter<double>* W = head.output_weight();
  for (int64_t i = 0; i < W->grad.numel(); ++i) dw_one[i] = W->grad[i];
  for (int64_t rows : {1, 2, 3}) {
    ps.zero_grad();
    head.set_chunk_rows(rows);
    // Equal up to rounding only: BLAS may pick other kernels for other row counts, and
    // dWout sums the rows in another order across chunks.
    EXPECT_NEAR(head.forward_backward(be, h.data(), kTargets, N, 1.0, dh_chunked.data()), loss_one, 1e-13) << rows;
    for (int64_t i = 0; i < h.numel(); ++i) EXPECT_NEAR(dh_chunked[i], dh_one[i], 1e-14) << rows;
    for (int64_t i = 0; i < W->grad.numel(); ++i) EXPECT_NEAR(W->grad[i], dw_one[i], 1e-14) << rows;
  }
}

// Without chunk_rows a chunk holds 32 MiB of fp32 logits, at least 64 rows.
TEST(LmHead, DefaultChunkHolds32MiBOfLogits) {
  EXPECT_EQ(LmHead<float>::default_chunk_rows(8192), 1024);
  EXPECT_EQ(LmHead<float>::default_chunk_rows(50257), 166);
  EXPECT_EQ(LmHead<float>::default_chunk_rows(int64_t(1) << 20), 64);
  ModelConfig cfg = head_config(false);
  cfg.vocab_size = 8192;
  ParameterSet<double> ps_default, ps_given;
  EXPECT_EQ(LmHead<double>(ps_default, cfg, nullptr).chunk_rows(), 1024);
  EXPECT_EQ(LmHead<double>(ps_given, cfg, nullptr, 5).chunk_rows(), 5);
}

TEST(LmHead, UniformLogitsGiveLogV) {
  auto be = make_cpu_backend<float>();
  ParameterSet<float> ps;
  LmHead<float> head(ps, head_config(false), nullptr, 2);
  init_parameters(ps, 9);
  head.output_weight()->value.zero();  // all logits 0
  Tensor<float> h({N, 4}), dh({N, 4});
  test::fill_normal(h, 1);
  EXPECT_NEAR(head.forward_loss(be, h.data(), kTargets, N), N * std::log(7.0), 1e-5);
  ps.zero_grad();
  EXPECT_NEAR(head.forward_backward(be, h.data(), kTargets, N, 1.f, dh.data()), N * std::log(7.0), 1e-5);
  for (int64_t i = 0; i < dh.numel(); ++i) EXPECT_EQ(dh[i], 0.f);  // W = 0, so dh = dlogits·W = 0
  // dW[v] = Σ_n (1/V − [v = target_n]) h[n]
  for (int64_t v = 0; v < 7; ++v)
    for (int64_t i = 0; i < 4; ++i) {
      double ref = 0;
      for (int64_t n = 0; n < N; ++n) ref += (1.0 / 7 - (kTargets[n] == v)) * h[n * 4 + i];
      EXPECT_NEAR(head.output_weight()->grad[v * 4 + i], ref, 1e-5);
    }
}

TEST(LmHead, NullDhLeavesGradientsAlone) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  LmHead<double> head(ps, head_config(false), nullptr);
  init_parameters(ps, 9);
  ps.zero_grad();
  Tensor<double> h({N, 4});
  test::fill_normal(h, 1);
  const double loss = head.forward_backward(be, h.data(), kTargets, N, 1.0, nullptr);
  EXPECT_EQ(loss, head.forward_loss(be, h.data(), kTargets, N));
  for (int64_t i = 0; i < head.output_weight()->grad.numel(); ++i) EXPECT_EQ(head.output_weight()->grad[i], 0.0);
}

}  // namespace
}  // namespace sy
