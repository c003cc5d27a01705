// tests/unit/nn_ops_test.cpp — CpuNnOps kernels: embeddings, positions, norms and cross-entropy against direct
// formulas, every backward by float64 finite differences, float32 against float64.
#include <cmath>
#include <vector>

#include "runtime/backend.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

using test::expect_gradient;
using test::fill_normal;
using test::weighted_sum;

const NnOps<double>& ops64() {
  static Backend<double> be = make_cpu_backend<double>();
  return *be.nn;
}
const NnOps<float>& ops32() {
  static Backend<float> be = make_cpu_backend<float>();
  return *be.nn;
}

Tensor<float> to_float(const Tensor<double>& t) {
  Tensor<float> f(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) f[i] = float(t[i]);
  return f;
}

// max_i |a_i − b_i| / (1 + |b_i|)
double max_rel_diff(const Tensor<float>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t i = 0; i < b.numel(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
  return worst;
}

// ---- embeddings and positions ----------------------------------------------

TEST(NnOps, EmbeddingForwardScalesRows) {
  const int64_t V = 5, d = 3, N = 4;
  Tensor<double> table({V, d}), out({N, d});
  fill_normal(table, 1);
  const int32_t ids[N] = {4, 0, 4, 2};
  ops64().embedding_forward(N, d, ids, table.data(), 2.5, out.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < d; ++i) EXPECT_EQ(out[n * d + i], 2.5 * table[ids[n] * d + i]);
}

TEST(NnOps, EmbeddingBackwardAccumulatesRepeatedIds) {
  const int64_t V = 5, d = 3, N = 4;
  Tensor<double> table({V, d}), out({N, d}), w({N, d}), dtable({V, d});
  fill_normal(table, 1);
  fill_normal(w, 2);
  const int32_t ids[N] = {4, 0, 4, 2};
  ops64().embedding_backward(N, d, ids, w.data(), 2.5, dtable.data());
  expect_gradient("dtable", table.data(), table.numel(), dtable.data(), [&] {
    ops64().embedding_forward(N, d, ids, table.data(), 2.5, out.data());
    return weighted_sum(out.data(), w.data(), out.numel());
  });
  for (int64_t i = 0; i < d; ++i) EXPECT_EQ(dtable[1 * d + i], 0.0);  // id 1 unused
}

TEST(NnOps, AddPositionsUsesOffsetRows) {
  const int64_t B = 2, T = 3, d = 4, off = 2;
  Tensor<double> table({T + off, d}), h({B * T, d}), h0({B * T, d});
  fill_normal(table, 1);
  fill_normal(h, 2);
  for (int64_t i = 0; i < h.numel(); ++i) h0[i] = h[i];
  ops64().add_positions(B, T, d, table.data(), off, h.data());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < d; ++i)
        EXPECT_EQ(h[(b * T + t) * d + i], h0[(b * T + t) * d + i] + table[(t + off) * d + i]);
}

TEST(NnOps, PositionsBackwardSumsOverBatch) {
  const int64_t B = 3, T = 3, d = 4, off = 2;
  Tensor<double> table({T + off, d}), h({B * T, d}), w({B * T, d}), dtable({T + off, d});
  fill_normal(table, 1);
  fill_normal(w, 2);
  ops64().positions_backward(B, T, d, w.data(), off, dtable.data());
  expect_gradient("dtable", table.data(), table.numel(), dtable.data(), [&] {
    h.zero();
    ops64().add_positions(B, T, d, table.data(), off, h.data());
    return weighted_sum(h.data(), w.data(), h.numel());
  });
  for (int64_t i = 0; i < off * d; ++i) EXPECT_EQ(dtable[i], 0.0);  // rows below the offset are never used
  EXPECT_DOUBLE_EQ(dtable[off * d], w[0] + w[T * d] + w[2 * T * d]);
}

// ---- norms --------------------------------------------------------------------

struct NormData {
  static constexpr int64_t N = 4, d = 7;
  Tensor<double> x{{N, d}}, w{{d}}, b{{d}}, dy{{N, d}};
  NormData() {
    fill_normal(x, 11, 2.0);
    for (int64_t i = 0; i < d; ++i) x[i] += 5.0;  // a row with a large mean
    fill_normal(w, 12, 0.7);
    fill_normal(b, 13);
    fill_normal(dy, 14);
  }
};

TEST(NnOps, LayerNormForwardMatchesFormula) {
  NormData t;
  const int64_t N = t.N, d = t.d;
  Tensor<double> y({N, d}), mean({N}), rstd({N});
  ops64().layernorm_forward(N, d, t.x.data(), t.w.data(), t.b.data(), 1e-5, y.data(), mean.data(), rstd.data());
  for (int64_t n = 0; n < N; ++n) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mu += t.x[n * d + i] / d;
    for (int64_t i = 0; i < d; ++i) var += (t.x[n * d + i] - mu) * (t.x[n * d + i] - mu) / d;
    EXPECT_NEAR(mean[n], mu, 1e-14);
    EXPECT_NEAR(rstd[n], 1 / std::sqrt(var + 1e-5), 1e-12);
    for (int64_t i = 0; i < d; ++i)
      EXPECT_NEAR(y[n * d + i], (t.x[n * d + i] - mu) / std::sqrt(var + 1e-5) * t.w[i] + t.b[i], 1e-12);
  }
}

TEST(NnOps, LayerNormBackwardMatchesFiniteDifferences) {
  NormData t;
  const int64_t N = t.N, d = t.d;
  Tensor<double> y({N, d}), mean({N}), rstd({N}), dx({N, d}), dw({d}), db({d});
  for (int64_t i = 0; i < d; ++i) dw[i] = db[i] = 0.25;  // parameter grads accumulate onto this
  auto loss = [&] {
    ops64().layernorm_forward(N, d, t.x.data(), t.w.data(), t.b.data(), 1e-5, y.data(), mean.data(), rstd.data());
    return weighted_sum(y.data(), t.dy.data(), y.numel());
  };
  loss();
  ops64().layernorm_backward(N, d, t.x.data(), t.w.data(), mean.data(), rstd.data(), t.dy.data(), dx.data(),
                             dw.data(), db.data());
  for (int64_t i = 0; i < d; ++i) dw[i] -= 0.25, db[i] -= 0.25;
  expect_gradient("dx", t.x.data(), t.x.numel(), dx.data(), loss);
  expect_gradient("dw", t.w.data(), d, dw.data(), loss);
  expect_gradient("db", t.b.data(), d, db.data(), loss);

  // In place: dx aliasing dy gives the same dx.
  Tensor<double> g({N, d}), dw2({d}), db2({d});
  for (int64_t i = 0; i < g.numel(); ++i) g[i] = t.dy[i];
  ops64().layernorm_backward(N, d, t.x.data(), t.w.data(), mean.data(), rstd.data(), g.data(), g.data(),
                             dw2.data(), db2.data());
  for (int64_t i = 0; i < g.numel(); ++i) EXPECT_EQ(g[i], dx[i]);
}

TEST(NnOps, RmsNormForwardMatchesFormula) {
  NormData t;
  const int64_t N = t.N, d = t.d;
  Tensor<double> y({N, d}), rstd({N});
  ops64().rmsnorm_forward(N, d, t.x.data(), t.w.data(), 1e-6, y.data(), rstd.data());
  for (int64_t n = 0; n < N; ++n) {
    double ms = 0;
    for (int64_t i = 0; i < d; ++i) ms += t.x[n * d + i] * t.x[n * d + i] / d;
    EXPECT_NEAR(rstd[n], 1 / std::sqrt(ms + 1e-6), 1e-14);
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(y[n * d + i], t.x[n * d + i] / std::sqrt(ms + 1e-6) * t.w[i], 1e-12);
  }
}

TEST(NnOps, RmsNormBackwardMatchesFiniteDifferences) {
  NormData t;
  const int64_t N = t.N, d = t.d;
  Tensor<double> y({N, d}), rstd({N}), dx({N, d}), dw({d});
  for (int64_t i = 0; i < d; ++i) dw[i] = 0.25;
  auto loss = [&] {
    ops64().rmsnorm_forward(N, d, t.x.data(), t.w.data(), 1e-6, y.data(), rstd.data());
    return weighted_sum(y.data(), t.dy.data(), y.numel());
  };
  loss();
  ops64().rmsnorm_backward(N, d, t.x.data(), t.w.data(), rstd.data(), t.dy.data(), dx.data(), dw.data());
  for (int64_t i = 0; i < d; ++i) dw[i] -= 0.25;
  expect_gradient("dx", t.x.data(), t.x.numel(), dx.data(), loss);
  expect_gradient("dw", t.w.data(), d, dw.data(), loss);

  Tensor<double> g({N, d}), dw2({d});
  for (int64_t i = 0; i < g.numel(); ++i) g[i] = t.dy[i];
  ops64().rmsnorm_backward(N, d, t.x.data(), t.w.data(), rstd.data(), g.data(), g.data(), dw2.data());
  for (int64_t i = 0; i < g.numel(); ++i) EXPECT_EQ(g[i], dx[i]);
}

TEST(NnOps, NormsFloatMatchDouble) {
  NormData t;
  const int64_t N = t.N, d = t.d;
  Tensor<double> y({N, d}), mean({N}), rstd({N}), dx({N, d}), dw({d}), db({d});
  Tensor<float> xf = to_float(t.x), wf = to_float(t.w), bf = to_float(t.b), dyf = to_float(t.dy);
  Tensor<float> yf({N, d}), meanf({N}), rstdf({N}), dxf({N, d}), dwf({d}), dbf({d});
  ops64().layernorm_forward(N, d, t.x.data(), t.w.data(), t.b.data(), 1e-5, y.data(), mean.data(), rstd.data());
  ops32().layernorm_forward(N, d, xf.data(), wf.data(), bf.data(), 1e-5, yf.data(), meanf.data(), rstdf.data());
  ops64().layernorm_backward(N, d, t.x.data(), t.w.data(), mean.data(), rstd.data(), t.dy.data(), dx.data(),
                             dw.data(), db.data());
  ops32().layernorm_backward(N, d, xf.data(), wf.data(), meanf.data(), rstdf.data(), dyf.data(), dxf.data(),
                             dwf.data(), dbf.data());
  EXPECT_LT(max_rel_diff(yf, y), 2e-6);
  EXPECT_LT(max_rel_diff(dxf, dx), 2e-6);
  EXPECT_LT(max_rel_diff(dwf, dw), 2e-6);
  EXPECT_LT(max_rel_diff(dbf, db), 2e-6);

  dw.zero();
  dwf.zero();
  ops64().rmsnorm_forward(N, d, t.x.data(), t.w.data(), 1e-6, y.data(), rstd.data());
  ops32().rmsnorm_forward(N, d, xf.data(), wf.data(), 1e-6, yf.data(), rstdf.data());
  ops64().rmsnorm_backward(N, d, t.x.data(), t.w.data(), rstd.data(), t.dy.data(), dx.data(), dw.data());
  ops32().rmsnorm_backward(N, d, xf.data(), wf.data(), rstdf.data(), dyf.data(), dxf.data(), dwf.data());
  EXPECT_LT(max_rel_diff(yf, y), 2e-6);
  EXPECT_LT(max_rel_diff(dxf, dx), 2e-6);
  EXPECT_LT(max_rel_diff(dwf, dw), 2e-6);
}

// ---- cross-entropy ----------------------------------------------------------------

TEST(NnOps, CrossEntropyMatchesDirectFormula) {
  const int64_t N = 3, V = 6;
  Tensor<double> z({N, V});
  fill_normal(z, 21, 2.0);
  const int32_t tgt[N] = {0, 5, 2};
  double ref = 0;
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t j = 0; j < V; ++j) s += std::exp(z[n * V + j]);
    ref += std::log(s) - z[n * V + tgt[n]];
  }
  EXPECT_NEAR(ops64().cross_entropy(N, V, z.data(), tgt, 1.0, nullptr), ref, 1e-12);
}

TEST(NnOps, CrossEntropyOfUniformLogitsIsLogV) {
  const int64_t N = 4, V = 10;
  Tensor<double> z({N, V});
  for (int64_t i = 0; i < z.numel(); ++i) z[i] = 3.0;
  const int32_t tgt[N] = {0, 9, 3, 3};
  EXPECT_NEAR(ops64().cross_entropy(N, V, z.data(), tgt, 1.0, nullptr), N * std::log(double(V)), 1e-12);
}

TEST(NnOps, CrossEntropyIsStableForHugeLogits) {
  const int64_t V = 3;
  Tensor<float> z({1, V});
  z[0] = 1000.f, z[1] = 999.f, z[2] = -1000.f;
  const int32_t tgt[1] = {1};
  // CE = log(e^1 + 1 + e^-1999) ≈ log(1 + e)
  const double ce = ops32().cross_entropy(1, V, z.data(), tgt, 1.f, z.data());
  EXPECT_NEAR(ce, std::log(1 + std::exp(1.0)), 1e-6);
  EXPECT_NEAR(z[0], std::exp(1.0) / (1 + std::exp(1.0)), 1e-6);
  EXPECT_NEAR(z[1], 1 / (1 + std::exp(1.0)) - 1, 1e-6);
  EXPECT_EQ(z[2], 0.f);
}

TEST(NnOps, CrossEntropyGradientInPlaceMatchesFiniteDifferences) {
  const int64_t N = 3, V = 5;
  const double scale = 0.375;
  Tensor<double> z({N, V}), g({N, V});
  fill_normal(z, 22, 1.5);
  const int32_t tgt[N] = {4, 1, 1};
  for (int64_t i = 0; i < z.numel(); ++i) g[i] = z[i];
  const double ce_inplace = ops64().cross_entropy(N, V, g.data(), tgt, scale, g.data());  // g: logits → dlogits
  const double ce = ops64().cross_entropy(N, V, z.data(), tgt, scale, nullptr);
  EXPECT_NEAR(ce_inplace, ce, 1e-14);
  expect_gradient("dlogits", z.data(), z.numel(), g.data(),
                  [&] { return scale * ops64().cross_entropy(N, V, z.data(), tgt, 1.0, nullptr); });
  // Out of place gives the same gradient and leaves the logits alone.
  Tensor<double> g2({N, V}), z0({N, V});
  for (int64_t i = 0; i < z.numel(); ++i) z0[i] = z[i];
  ops64().cross_entropy(N, V, z.data(), tgt, scale, g2.data());
  for (int64_t i = 0; i < z.numel(); ++i) {
    EXPECT_NEAR(g2[i], g[i], 1e-15);
    EXPECT_EQ(z[i], z0[i]);
  }
}

TEST(NnOps, CrossEntropyFloatMatchesDouble) {
  const int64_t N = 5, V = 37;
  Tensor<double> z({N, V}), g({N, V});
  fill_normal(z, 23, 3.0);
  Tensor<float> zf = to_float(z), gf({N, V});
  const int32_t tgt[N] = {0, 36, 7, 7, 20};
  const double ce = ops64().cross_entropy(N, V, z.data(), tgt, 0.5, g.data());
  const double cef = ops32().cross_entropy(N, V, zf.data(), tgt, 0.5f, gf.data());
  EXPECT_NEAR(cef, ce, 1e-5 * ce);
  EXPECT_LT(max_rel_diff(gf, g), 1e-6);
}

TEST(NnOps, EmbeddingAndPositionsFloatMatchDouble) {
  const int64_t V = 6, B = 2, T = 3, d = 5, off = 1;
  Tensor<double> table({V, d}), pos({T + off, d}), h({B * T, d}), dtab({V, d}), dpos({T + off, d});
  fill_normal(table, 31);
  fill_normal(pos, 32);
  Tensor<float> tf = to_float(table), pf = to_float(pos), hf({B * T, d}), dtf({V, d}), dpf({T + off, d});
  const int32_t ids[B * T] = {1, 5, 1, 0, 3, 3};
  ops64().embedding_forward(B * T, d, ids, table.data(), 1.5, h.data());
  ops64().add_positions(B, T, d, pos.data(), off, h.data());
  ops32().embedding_forward(B * T, d, ids, tf.data(), 1.5f, hf.data());
  ops32().add_positions(B, T, d, pf.data(), off, hf.data());
  EXPECT_LT(max_rel_diff(hf, h), 1e-6);
  ops64().embedding_backward(B * T, d, ids, h.data(), 1.5, dtab.data());
  ops64().positions_backward(B, T, d, h.data(), off, dpos.data());
  ops32().embedding_backward(B * T, d, ids, hf.data(), 1.5f, dtf.data());
  ops32().positions_backward(B, T, d, hf.data(), off, dpf.data());
  EXPECT_LT(max_rel_diff(dtf, dtab), 1e-6);
  EXPECT_LT(max_rel_diff(dpf, dpos), 1e-6);
}

}  // namespace
}  // namespace sy
