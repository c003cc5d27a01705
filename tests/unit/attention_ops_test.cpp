// tests/unit/attention_ops_test.cpp — CpuAttentionOps: RoPE against its formula, attention against a naive
// T×T softmax, backward by finite differences, float32 against float64.
#include "runtime/cpu/cpu_attention_ops.h"

#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "runtime/backend.h"
#include "tests/unit/attention_reference.h"
#include "tests/unit/gradcheck.h"

namespace sy {

const char* name_of(AttentionTiles t) {
  switch (t) {
    case AttentionTiles::best: return "best";
    case AttentionTiles::avx512: return "avx512";
    case AttentionTiles::avx2: return "avx2";
    case AttentionTiles::avx512_layout_on_avx2: return "avx512_layout_on_avx2";
    case AttentionTiles::portable: return "portable";
  }
  return "?";
}
// GoogleTest prints test parameters through PrintTo, found by argument-dependent lookup.
void PrintTo(AttentionTiles t, std::ostream* os) { *os << name_of(t); }

namespace {

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// A deep copy (copying a Tensor shares its storage).
Tensor<double> clone(const Tensor<double>& t) {
  Tensor<double> c(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) c[i] = t[i];
  return c;
}

TEST(Rope, MatchesDirectFormula) {
  CpuAttentionOps<double> ops;
  for (double theta : {10000.0, 10.0}) {
    Tensor<double> x({2, 6, 3, 8});
    test::fill_normal(x, 1);
    Tensor<double> expected = clone(x);
    test::reference_rope(2, 6, 3, 8, theta, expected.data());
    ops.rope_forward(2, 6, 3, 8, theta, x.data());
    EXPECT_LT(max_abs_diff(x, expected), 1e-13) << "theta " << theta;
  }
}

TEST(Rope, ExactValuesForOnePair) {
  // D = 2: θ_0 = 1, so (1, 0) at position t becomes (cos t, sin t); position 0 is untouched.
  CpuAttentionOps<double> ops;
  Tensor<double> x({1, 4, 1, 2});
  for (int t = 0; t < 4; ++t) x[2 * t] = 1.0;
  ops.rope_forward(1, 4, 1, 2, 500.0, x.data());
  for (int t = 0; t < 4; ++t) {
    EXPECT_DOUBLE_EQ(x[2 * t], std::cos(double(t)));
    EXPECT_DOUBLE_EQ(x[2 * t + 1], std::sin(double(t)));
  }
}

TEST(Rope, BackwardIsTheAdjoint) {
  // <rope(x), g> == <x, rope_backward(g)> for random x, g.
  CpuAttentionOps<double> ops;
  Tensor<double> x({2, 5, 2, 6}), g({2, 5, 2, 6});
  test::fill_normal(x, 2);
  test::fill_normal(g, 3);
  double x_dot_bg = 0, fx_dot_g = 0;
  Tensor<double> fx = clone(x);
  ops.rope_forward(2, 5, 2, 6, 100.0, fx.data());
  for (int64_t i = 0; i < x.numel(); ++i) fx_dot_g += fx[i] * g[i];
  ops.rope_backward(2, 5, 2, 6, 100.0, g.data());
  for (int64_t i = 0; i < x.numel(); ++i) x_dot_bg += x[i] * g[i];
  EXPECT_NEAR(fx_dot_g, x_dot_bg, 1e-12);
  // and not trivially: rope must actually have changed x.
  EXPECT_GT(max_abs_diff(fx, x), 0.1);
}

struct Shape5 {
  int64_t B, T, Hq, Hkv, D, block_q, block_k;
};
std::ostream& operator<<(std::ostream& os, const Shape5& s) {
  return os << "B" << s.B << " T" << s.T << " Hq" << s.Hq << " Hkv" << s.Hkv << " D" << s.D << " blocks " << s.block_q
            << "x" << s.block_k;
}

class AttentionShapes : public ::testing::TestWithParam<Shape5> {
 protected:
  void SetUp() override {
    const Shape5& s = GetParam();
    q = Tensor<double>({s.B, s.T, s.Hq, s.D});
    k = Tensor<double>({s.B, s.T, s.Hkv, s.D});
    v = Tensor<double>({s.B, s.T, s.Hkv, s.D});
    out = Tensor<double>(q.shape());
    lse = Tensor<double>({s.B, s.Hq, s.T});
    test::fill_normal(q, 11, 1.5);
    test::fill_normal(k, 12, 1.5);
    test::fill_normal(v, 13);
  }
  Tensor<double> q, k, v, out, lse;
};

TEST_P(AttentionShapes, ForwardMatchesNaiveSoftmax) {
  const Shape5& s = GetParam();
  CpuAttentionOps<double> ops(s.block_q, s.block_k);
  Tensor<double> ref_out(out.shape()), ref_lse(lse.shape());
  test::reference_attention(s.B, s.T, s.Hq, s.Hkv, s.D, q.data(), k.data(), v.data(), ref_out.data(), ref_lse.data());
  for (int64_t i = 0; i < out.numel(); ++i) out[i] = std::numeric_limits<double>::quiet_NaN();  // must be overwritten
  ops.attention_forward(s.B, s.T, s.Hq, s.Hkv, s.D, q.data(), k.data(), v.data(), out.data(), lse.data());
  EXPECT_LT(max_abs_diff(out, ref_out), 1e-12);
  EXPECT_LT(max_abs_diff(lse, ref_lse), 1e-12);
  for (int64_t i = 0; i < out.numel(); ++i) ASSERT_TRUE(std::isfinite(out[i])) << i;
}

TEST_P(AttentionShapes, BackwardMatchesFiniteDifferences) {
  const Shape5& s = GetParam();
  CpuAttentionOps<double> ops(s.block_q, s.block_k);
  Tensor<double> w(out.shape()), dq(q.shape()), dk(k.shape()), dv(v.shape());
  test::fill_normal(w, 14);
  auto loss = [&] {
    ops.attention_forward(s.B, s.T, s.Hq, s.Hkv, s.D, q.data(), k.data(), v.data(), out.data(), lse.data());
    return test::weighted_sum(out.data(), w.data(), out.numel());
  };
  loss();
  // Garbage in the gradient buffers: they must be overwritten, not accumulated into.
  for (Tensor<double>* g : {&dq, &dk, &dv})
    for (int64_t i = 0; i < g->numel(); ++i) (*g)[i] = 1e3;
  ops.attention_backward(s.B, s.T, s.Hq, s.Hkv, s.D, q.data(), k.data(), v.data(), out.data(), lse.data(), w.data(),
                         dq.data(), dk.data(), dv.data());
  // eps 1e-5: with S = 70 the loss sums ~10³ terms and 1e-6 steps drown in its rounding.
  const double rtol = 1e-6, atol = 1e-8, eps = 1e-5;
  test::expect_gradient("dq", q.data(), q.numel(), dq.data(), loss, rtol, atol, eps);
  test::expect_gradient("dk", k.data(), k.numel(), dk.data(), loss, rtol, atol, eps);
  test::expect_gradient("dv", v.data(), v.numel(), dv.data(), loss, rtol, atol, eps);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttentionShapes,
    ::testing::Values(Shape5{1, 1, 1, 1, 4, 32, 64},   // T = 1: only the diagonal
                      Shape5{1, 1, 4, 2, 4, 3, 2},     // T = 1 with GQA
                      Shape5{2, 7, 4, 2, 8, 3, 2},     // GQA 2:1, many blocks, T not a multiple of either
                      Shape5{1, 10, 4, 1, 6, 4, 3},    // multi-query (Hkv = 1)
                      Shape5{2, 13, 2, 2, 5, 32, 64},  // odd D, one block
                      Shape5{1, 9, 3, 3, 4, 1, 1},     // block size 1
                      Shape5{1, 11, 2, 1, 4, 2, 5},    // key blocks larger than query blocks
                      Shape5{1, 70, 2, 1, 8, 32, 64}   // default blocks, T = 70 not a multiple of 32 or 64
                      ));

TEST(Attention, OutputDependsOnlyOnThePast) {
  // Perturbing k and v at position p changes rows t ≥ p and leaves rows t < p bit-identical.
  const int64_t B = 1, T = 9, H = 2, D = 4, p = 5;
  CpuAttentionOps<double> ops(4, 3);
  Tensor<double> q({B, T, H, D}), k({B, T, H, D}), v({B, T, H, D}), out1(q.shape()), out2(q.shape()), lse({B, H, T});
  test::fill_normal(q, 1);
  test::fill_normal(k, 2);
  test::fill_normal(v, 3);
  ops.attention_forward(B, T, H, H, D, q.data(), k.data(), v.data(), out1.data(), lse.data());
  for (int64_t i = p * H * D; i < (p + 1) * H * D; ++i) {
    k[i] += 0.5;
    v[i] -= 0.5;
  }
  ops.attention_forward(B, T, H, H, D, q.data(), k.data(), v.data(), out2.data(), lse.data());
  for (int64_t t = 0; t < T; ++t) {
    double diff = 0;
    for (int64_t i = t * H * D; i < (t + 1) * H * D; ++i) diff = std::max(diff, std::abs(out1[i] - out2[i]));
    if (t < p)
      EXPECT_EQ(diff, 0.0) << "row " << t << " saw the future";
    else
      EXPECT_GT(diff, 1e-6) << "row " << t << " ignored position " << p;
  }
}

// The float tiles run through the register-blocked kernels (row groups of 6,
// 4 and the rest; 16- and 8-float column strips; the scalar remainder), the
// double ones through the portable loop.  Several key blocks per query block
// exercise the online softmax's rescale of the running output.  Every tile
// path the CPU can run is checked, AVX-512's layout also in AVX2 instructions
// (64/32/16-column strips, 4-row groups, 16-column mask strips), so a machine
// without AVX-512 still tests the layout such a machine runs.
struct FloatCase {
  int64_t T, D, block_q, block_k;
};
std::ostream& operator<<(std::ostream& os, const FloatCase& c) {
  return os << "T" << c.T << " D" << c.D << " blocks " << c.block_q << "x" << c.block_k;
}
class AttentionFloat : public ::testing::TestWithParam<std::tuple<AttentionTiles, FloatCase>> {};

TEST_P(AttentionFloat, Float32AgreesWithFloat64) {
  const auto& [tiles, c] = GetParam();
  if (!cpu_runs(tiles)) GTEST_SKIP() << "this CPU cannot run the " << name_of(tiles) << " tile kernels";
  const int64_t B = 2, T = c.T, Hq = 4, Hkv = 2, D = c.D;
  CpuAttentionOps<double> ops64;
  CpuAttentionOps<float> ops32(c.block_q, c.block_k, tiles);
  Tensor<double> q({B, T, Hq, D}), k({B, T, Hkv, D}), v(k.shape()), w(q.shape());
  test::fill_normal(q, 21, 1.5);
  test::fill_normal(k, 22, 1.5);
  test::fill_normal(v, 23);
  test::fill_normal(w, 24);
  auto to_float = [](const Tensor<double>& t) {
    Tensor<float> f(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) f[i] = static_cast<float>(t[i]);
    return f;
  };
  Tensor<float> qf = to_float(q), kf = to_float(k), vf = to_float(v), wf = to_float(w);
  Tensor<double> out(q.shape()), lse({B, Hq, T}), dq(q.shape()), dk(k.shape()), dv(v.shape());
  Tensor<float> outf(q.shape()), lsef({B, Hq, T}), dqf(q.shape()), dkf(k.shape()), dvf(v.shape());
  ops64.attention_forward(B, T, Hq, Hkv, D, q.data(), k.data(), v.data(), out.data(), lse.data());
  ops64.attention_backward(B, T, Hq, Hkv, D, q.data(), k.data(), v.data(), out.data(), lse.data(), w.data(), dq.data(),
                           dk.data(), dv.data());
  ops32.attention_forward(B, T, Hq, Hkv, D, qf.data(), kf.data(), vf.data(), outf.data(), lsef.data());
  ops32.attention_backward(B, T, Hq, Hkv, D, qf.data(), kf.data(), vf.data(), outf.data(), lsef.data(), wf.data(),
                           dqf.data(), dkf.data(), dvf.data());
  auto expect_close = [](const char* what, const Tensor<double>& a, const Tensor<float>& b) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      worst = std::max(worst, std::abs(a[i] - double(b[i])));
      scale = std::max(scale, std::abs(a[i]));
    }
    EXPECT_LT(worst, 2e-5 * scale) << what;
    EXPECT_GT(scale, 0.1) << what;
  };
  expect_close("out", out, outf);
  expect_close("lse", lse, lsef);
  expect_close("dq", dq, dqf);
  expect_close("dk", dk, dkf);
  expect_close("dv", dv, dvf);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttentionFloat,
    ::testing::Combine(::testing::Values(AttentionTiles::best, AttentionTiles::avx512, AttentionTiles::avx2,
                                         AttentionTiles::avx512_layout_on_avx2, AttentionTiles::portable),
                       ::testing::Values(FloatCase{40, 16, 32, 64},   // default blocks, one key block per query block
                                         FloatCase{150, 64, 32, 64},  // default blocks, up to 3 key blocks
                                         FloatCase{61, 29, 13, 16},   // 6 + 6 + 1 rows; 16 + 8 + 5 columns
                                         FloatCase{45, 24, 10, 12},   // 6 + 4 rows; 8-column strips of the keys
                                         FloatCase{77, 48, 11, 48}    // 4 + 4 + 3 rows; 32 + 16 columns
                                         )),
    [](const ::testing::TestParamInfo<AttentionFloat::ParamType>& info) {
      const FloatCase& c = std::get<1>(info.param);
      return std::string(name_of(std::get<0>(info.param))) + "_T" + std::to_string(c.T) + "_D" +
             std::to_string(c.D) + "_q" + std::to_string(c.block_q) + "_k" + std::to_string(c.block_k);
    });

TEST(Attention, CpuBackendProvidesIt) {
  auto be = make_cpu_backend<double>();
  ASSERT_NE(be.attn, nullptr);
}

}  // namespace
}  // namespace sy
