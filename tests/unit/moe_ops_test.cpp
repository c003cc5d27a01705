// tests/unit/moe_ops_test.cpp — CpuMoeOps kernels against direct formulas and finite differences.
#include <cmath>
#include <vector>

#include "runtime/backend.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

using V = std::vector<double>;
using V32 = std::vector<int32_t>;

Backend<double> backend() { return make_cpu_backend<double>(); }

TEST(MoeOps, SoftmaxAndLogsumexp) {
  auto be = backend();
  const V r = {1.0, -2.0, 0.5, 3.0, 1000.0, 999.0};  // second row would overflow a naive exp
  V p(6), lse(2);
  be.moe->router_softmax(2, 3, r.data(), p.data(), lse.data());
  for (int n = 0; n < 2; ++n) {
    const double m = std::max({r[3 * n], r[3 * n + 1], r[3 * n + 2]});
    double s = 0;
    for (int e = 0; e < 3; ++e) s += std::exp(r[3 * n + e] - m);
    EXPECT_NEAR(lse[n], m + std::log(s), 1e-12);
    for (int e = 0; e < 3; ++e) EXPECT_NEAR(p[3 * n + e], std::exp(r[3 * n + e] - lse[n]), 1e-12);
  }
}

TEST(MoeOps, TopkTiesGoToLowerIndexAndGatesArePlainProbabilities) {
  auto be = backend();
  const V p = {0.25, 0.25, 0.25, 0.25,   // all tied
               0.1, 0.4, 0.2, 0.3};
  V32 ex(4);
  V g(4);
  be.moe->router_topk(2, 4, 2, p.data(), p.data(), nullptr, false, ex.data(), g.data());
  EXPECT_EQ(ex, (V32{0, 1, 1, 3}));
  EXPECT_EQ(g, (V{0.25, 0.25, 0.4, 0.3}));
  be.moe->router_topk(2, 4, 2, p.data(), p.data(), nullptr, true, ex.data(), g.data());
  EXPECT_DOUBLE_EQ(g[0], 0.5);
  EXPECT_DOUBLE_EQ(g[2], 0.4 / 0.7);
  EXPECT_DOUBLE_EQ(g[3], 0.3 / 0.7);
}

TEST(MoeOps, TopkBiasAndNoisyScoresChangeSelectionNotGates) {
  auto be = backend();
  const V p = {0.1, 0.4, 0.2, 0.3};
  const V bias = {0.0, 0.0, 0.15, 0.0};  // score of expert 2 becomes 0.35
  V32 ex(2);
  V g(2);
  be.moe->router_topk(1, 4, 2, p.data(), p.data(), bias.data(), false, ex.data(), g.data());
  EXPECT_EQ(ex, (V32{1, 2}));
  EXPECT_EQ(g, (V{0.4, 0.2}));
  const V noisy = {0.7, 0.1, 0.1, 0.1};
  be.moe->router_topk(1, 4, 2, p.data(), noisy.data(), nullptr, false, ex.data(), g.data());
  EXPECT_EQ(ex, (V32{0, 1}));
  EXPECT_EQ(g, (V{0.1, 0.4}));
}

TEST(MoeOps, Statistics) {
  auto be = backend();
  const V p = {0.5, 0.5, 0.0, 0.2, 0.3, 0.5};
  const V lse = {1.5, -2.0};
  V ps(3);
  double zsq = 0, h = 0;
  be.moe->router_statistics(2, 3, p.data(), lse.data(), ps.data(), &zsq, &h);
  EXPECT_EQ(ps, (V{0.7, 0.8, 0.5}));
  EXPECT_DOUBLE_EQ(zsq, 2.25 + 4.0);
  EXPECT_NEAR(h, -(std::log(0.5)) - (0.2 * std::log(0.2) + 0.3 * std::log(0.3) + 0.5 * std::log(0.5)), 1e-15);
}

class RouterBackward : public ::testing::TestWithParam<bool> {};

TEST_P(RouterBackward, MatchesFiniteDifferences) {
  const bool normalize = GetParam();
  auto be = backend();
  const int64_t N = 5, E = 6;
  const int k = 3;
  Tensor<double> r({N, E}), dgate({N, k}), aux({E});
  test::fill_normal(r, 1, 2.0);
  test::fill_normal(dgate, 2);
  test::fill_normal(aux, 3);
  double z_scale = 0.7;
  V p(N * E), lse(N), g(N * k);
  V32 ex(N * k);
  be.moe->router_softmax(N, E, r.data(), p.data(), lse.data());
  be.moe->router_topk(N, E, k, p.data(), p.data(), nullptr, normalize, ex.data(), g.data());
  // The selection stays fixed; the objective is smooth in r.
  auto loss = [&] {
    V pp(N * E), ll(N);
    be.moe->router_softmax(N, E, r.data(), pp.data(), ll.data());
    double L = 0;
    for (int64_t n = 0; n < N; ++n) {
      double S = 0;
      for (int j = 0; j < k; ++j) S += pp[n * E + ex[n * k + j]];
      for (int j = 0; j < k; ++j) L += dgate[n * k + j] * pp[n * E + ex[n * k + j]] / (normalize ? S : 1.0);
      for (int64_t e = 0; e < E; ++e) L += aux[e] * pp[n * E + e];
      L += z_scale * ll[n] * ll[n];
    }
    return L;
  };
  V dr(N * E);
  be.moe->router_backward(N, E, k, p.data(), lse.data(), ex.data(), dgate.data(), normalize, aux.data(), z_scale,
                          dr.data());
  test::expect_gradient("dlogits", r.data(), r.numel(), dr.data(), loss);
  // Without the aux term (null) only gates and z remain.
  be.moe->router_backward(N, E, k, p.data(), lse.data(), ex.data(), dgate.data(), normalize, nullptr, 0.0,
                          dr.data());
  aux.zero();
  z_scale = 0.0;
  test::expect_gradient("dlogits, gates only", r.data(), r.numel(), dr.data(), loss);
}

INSTANTIATE_TEST_SUITE_P(Normalize, RouterBackward, ::testing::Bool());

TEST(MoeOps, GatherScatterCombineAndTheirBackward) {
  auto be = backend();
  const int64_t N = 4, d = 3, M = 5;
  const V32 token = {2, 0, 2, 3, 1};
  const V32 gate_index = {4, 0, 5, 6, 2};  // k = 2: token·2 + slot
  Tensor<double> x({N, d}), gate({N, 2}), rows({M, d}), dy({N, d});
  test::fill_normal(x, 1);
  test::fill_normal(gate, 2);
  test::fill_normal(rows, 3);
  test::fill_normal(dy, 4);

  V gathered(M * d);
  be.moe->gather_rows(M, d, token.data(), x.data(), gathered.data());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t c = 0; c < d; ++c) EXPECT_EQ(gathered[i * d + c], x[token[i] * d + c]);

  V acc(N * d, 1.0);
  be.moe->scatter_add_rows(M, d, token.data(), rows.data(), acc.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < d; ++c) {
      double want = 1.0;
      for (int64_t i = 0; i < M; ++i)
        if (token[i] == n) want += rows[i * d + c];
      EXPECT_DOUBLE_EQ(acc[n * d + c], want);
    }

  V y(N * d, 0.0);
  be.moe->combine_rows(M, d, token.data(), gate_index.data(), gate.data(), rows.data(), y.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < d; ++c) {
      double want = 0;
      for (int64_t i = 0; i < M; ++i)
        if (token[i] == n) want += gate[gate_index[i]] * rows[i * d + c];
      EXPECT_NEAR(y[n * d + c], want, 1e-15);
    }

  // Backward of Σ dy·y w.r.t. rows and gate.
  V drows(M * d), dgate(N * 2, 0.0);
  be.moe->combine_rows_backward(M, d, token.data(), gate_index.data(), gate.data(), rows.data(), dy.data(),
                                drows.data(), dgate.data());
  auto loss = [&] {
    V yy(N * d, 0.0);
    be.moe->combine_rows(M, d, token.data(), gate_index.data(), gate.data(), rows.data(), yy.data());
    return test::weighted_sum(yy.data(), dy.data(), N * d);
  };
  test::expect_gradient("drows", rows.data(), rows.numel(), drows.data(), loss);
  test::expect_gradient("dgate", gate.data(), gate.numel(), dgate.data(), loss);
  EXPECT_EQ(dgate[1], 0.0);  // assignments without a row are left alone
  EXPECT_EQ(dgate[3], 0.0);
  EXPECT_EQ(dgate[7], 0.0);
}

TEST(MoeOps, JitterMultipliesInPlace) {
  auto be = backend();
  V x = {1.0, -2.0, 4.0};
  const V m = {0.5, 1.5, 1.0};
  be.moe->router_jitter(3, x.data(), m.data(), x.data());
  EXPECT_EQ(x, (V{0.5, -3.0, 4.0}));
}

}  // namespace
}  // namespace sy
