// tests/unit/gemm_test.cpp — CPU GEMMs against double references: fp32 (oneDNN), bf16 rounding, grouped form, every transpose/stride/alpha/beta.
#include <cmath>
#include <cstring>
#include <utility>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "runtime/backend.h"
#include "runtime/cpu/bf16_pack.h"
#include "runtime/cpu/dnnl_gemm.h"
#include "runtime/error.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t bf16(float f) {
  uint16_t b;
  round_to_bf16(1, &f, &b);
  return b;
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16(-2.0f), 0xc000);
  EXPECT_EQ(bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, even neighbour below
  EXPECT_EQ(bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, even neighbour above
  EXPECT_EQ(bf16(from_bits(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(bf16(from_bits(0x3f807fffu)), 0x3f80);  // just below the tie
  EXPECT_EQ(bf16(from_bits(0x7f800000u)), 0x7f80);  // +inf stays inf
  EXPECT_EQ(bf16(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds up to inf
  EXPECT_EQ(bf16(from_bits(0x00000001u)), 0x0000);  // smallest denormal rounds to +0
  const uint16_t nan = bf16(std::nanf(""));
  EXPECT_TRUE(std::isnan(bf16_to_float(nan)));
  EXPECT_TRUE(std::isnan(bf16_to_float(bf16(from_bits(0x7f800001u)))));  // signalling NaN with low payload only
  EXPECT_EQ(bf16_to_float(0x3f81), 1.0078125f);
  // The vectorised path over many elements agrees with the scalar one.
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = from_bits(0x3f800000u + 0x1234u * uint32_t(i));
  std::vector<uint16_t> out(x.size());
  round_to_bf16(int64_t(x.size()), x.data(), out.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(out[i], bf16(x[i])) << i;
}

// The packers against oneDNN's own f32 → bf16 reorders into the same layouts.
void expect_pack_matches_dnnl(int64_t K, int64_t N, bool trans, int64_t pad) {
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  const int64_t ld = (trans ? K : N) + pad;
  Tensor<float> x({(trans ? N : K) * ld});
  test::fill_normal(x, 7 + K + N);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  dnnl::memory src({{K, N}, dt::f32, trans ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1}}, eng, x.data());
  for (tag t : {tag::BA16a64b2a, tag::ab}) {
    dnnl::memory ref({{K, N}, dt::bf16, t}, eng);
    dnnl::reorder(src, ref).execute(strm, src, ref);
    strm.wait();
    const size_t n = ref.get_desc().get_size() / 2;
    std::vector<uint16_t> ours(n, 0xffff);
    if (t == tag::ab)
      pack_bf16_dense(K, N, x.data(), ld, trans, ours.data());
    else
      pack_bf16_vnni(K, N, x.data(), ld, trans, ours.data());
    const auto* theirs = static_cast<const uint16_t*>(ref.get_data_handle());
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(ours[i], theirs[i]) << K << "x" << N << (trans ? " trans" : "") << " layout " << int(t) << " at " << i;
  }
}

TEST(Bf16, PackersMatchOneDnnReorders) {
  for (bool trans : {false, true}) {
    expect_pack_matches_dnnl(64, 128, trans, 0);  // whole blocks
    expect_pack_matches_dnnl(37, 70, trans, 3);   // ragged: zero padding to 48 × 128
    expect_pack_matches_dnnl(1, 5, trans, 0);
  }
}

// bf16 needs a CPU oneDNN has bf16 kernels for (AVX-512); elsewhere the
// backend refuses with ConfigError (exit 2), and the bf16 tests skip.
bool bf16_available() {
  try {
    make_cpu_backend<float>(1, Precision::bf16);
    return true;
  } catch (const ConfigError&) {
    return false;
  }
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  int64_t pad;  // extra leading-dimension columns on A, B and C
  float alpha, beta;
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t pad : {0, 3})
        for (float beta : {0.0f, 1.0f, 0.5f}) cs.push_back({ta, tb, 7, 13, 37, pad, beta == 0.5f ? 0.75f : 1.0f, beta});
  cs.push_back({false, true, 64, 96, 200, 0, 1.0f, 0.0f});  // big enough for blocked kernels
  cs.push_back({true, false, 40, 24, 300, 5, 1.0f, 1.0f});  // weight-gradient shape
  // Model-like shapes, whole and ragged 16×64 weight blocks, both weight orientations.
  cs.push_back({false, true, 48, 128, 96, 0, 1.0f, 0.0f});
  cs.push_back({false, false, 33, 70, 45, 2, 1.0f, 1.0f});
  cs.push_back({true, false, 64, 128, 33, 0, 1.0f, 1.0f});
  return cs;
}

struct Operands {
  int64_t lda, ldb, ldc;
  std::vector<float> a, b, c0;
};

Operands make_operands(const Case& k, uint64_t seed) {
  Operands o;
  const int64_t a_rows = k.ta ? k.K : k.M, a_cols = k.ta ? k.M : k.K;
  const int64_t b_rows = k.tb ? k.N : k.K, b_cols = k.tb ? k.K : k.N;
  o.lda = a_cols + k.pad;
  o.ldb = b_cols + k.pad;
  o.ldc = k.N + k.pad;
  Tensor<float> a({a_rows * o.lda}), b({b_rows * o.ldb}), c({k.M * o.ldc});
  test::fill_normal(a, seed);
  test::fill_normal(b, seed + 1);
  test::fill_normal(c, seed + 2);
  o.a.assign(a.data(), a.data() + a.numel());
  o.b.assign(b.data(), b.data() + b.numel());
  o.c0.assign(c.data(), c.data() + c.numel());
  return o;
}

// alpha·op(A)·op(B) + beta·C in double, the inputs first passed through `in`;
// also Σ|terms| per element for the accumulation-error bound.
template <class In>
void reference(const Case& k, const Operands& o, In in, std::vector<double>& ref, std::vector<double>& mag) {
  ref.assign(k.M * o.ldc, 0.0);
  mag.assign(k.M * o.ldc, 0.0);
  for (int64_t m = 0; m < k.M; ++m)
    for (int64_t n = 0; n < k.N; ++n) {
      double s = 0, a_s = 0;
      for (int64_t q = 0; q < k.K; ++q) {
        const double a = in(o.a[k.ta ? q * o.lda + m : m * o.lda + q]);
        const double b = in(o.b[k.tb ? n * o.ldb + q : q * o.ldb + n]);
        s += a * b;
        a_s += std::abs(a * b);
      }
      const double c0 = o.c0[m * o.ldc + n];
      ref[m * o.ldc + n] = k.alpha * s + k.beta * c0;
      mag[m * o.ldc + n] = std::abs(k.alpha) * a_s + std::abs(k.beta * c0);
    }
}

// Runs the case through `core` and returns the worst |C − ref| ÷ (Σ|terms|) over C;
// also checks the padding columns of C were not written.
double worst_relative_error(const CoreOps<float>& core, const Case& k, const Operands& o,
                            const std::vector<double>& ref, const std::vector<double>& mag) {
  std::vector<float> c = o.c0;
  core.gemm(k.ta, k.tb, k.M, k.N, k.K, k.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, k.beta, c.data(), o.ldc);
  double worst = 0;
  for (int64_t m = 0; m < k.M; ++m) {
    for (int64_t n = 0; n < k.N; ++n) {
      const int64_t i = m * o.ldc + n;
      worst = std::max(worst, std::abs(c[i] - ref[i]) / std::max(mag[i], 1e-30));
    }
    for (int64_t n = k.N; n < o.ldc; ++n) EXPECT_EQ(c[m * o.ldc + n], o.c0[m * o.ldc + n]) << "padding written";
  }
  return worst;
}

std::string label(const Case& k) {
  return std::string(k.ta ? "T" : "N") + (k.tb ? "T" : "N") + " " + std::to_string(k.M) + "x" + std::to_string(k.N) +
         "x" + std::to_string(k.K) + " pad " + std::to_string(k.pad) + " alpha " + std::to_string(k.alpha) +
         " beta " + std::to_string(k.beta);
}

// fp32 accumulation of K terms: the error of each element is bounded by about
// K·2⁻²⁴·Σ|terms|; 1e-5 relative to Σ|terms| covers K ≤ 300 with room.
constexpr double kAccumulationTol = 1e-5;

TEST(CpuGemm, Fp32MatchesDoubleReference) {
  const Backend<float> be = make_cpu_backend<float>(1);
  uint64_t seed = 1;
  for (const Case& k : cases()) {
    const Operands o = make_operands(k, seed += 3);
    std::vector<double> ref, mag;
    reference(k, o, [](float x) { return double(x); }, ref, mag);
    EXPECT_LE(worst_relative_error(*be.core, k, o, ref, mag), kAccumulationTol) << label(k);
  }
}

// GEMMs of ≥ 1e8 FLOPs may go to another library than small ones (on CPUs
// without AVX-512, those with an untransposed B go to OpenBLAS) and run over
// all threads: every transpose, with padding and beta, at 1 and 2 threads.
TEST(CpuGemm, LargeFp32MatchesDoubleReference) {
  for (int threads : {1, 2}) {
    const Backend<float> be = make_cpu_backend<float>(threads);
    uint64_t seed = 101;
    // M < N and M > N: where OpenBLAS runs them (no AVX-512), split by columns and by rows of C.
    for (const auto& [M, N] : {std::pair<int64_t, int64_t>{260, 650}, {650, 270}})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const Case k{ta, tb, M, N, 300, ta == tb ? int64_t(3) : int64_t(0), 1.0f, ta ? 0.5f : 0.0f};
          ASSERT_GE(2.0 * k.M * k.N * k.K, 1e8);
          const Operands o = make_operands(k, seed += 3);
          std::vector<double> ref, mag;
          reference(k, o, [](float x) { return double(x); }, ref, mag);
          EXPECT_LE(worst_relative_error(*be.core, k, o, ref, mag), kAccumulationTol)
              << label(k) << ", " << threads << " threads";
        }
  }
}

// Past its cache capacity DnnlGemm creates primitives per call: same results.
TEST(CpuGemm, ShapesBeyondTheCacheCapacityStillMultiplyCorrectly) {
  const DnnlGemm small_cache(false, 2);
  uint64_t seed = 7;
  for (int pass = 0; pass < 2; ++pass)
    for (const Case& k : cases()) {
      const Operands o = make_operands(k, seed += 3);
      std::vector<double> ref, mag;
      reference(k, o, [](float x) { return double(x); }, ref, mag);
      std::vector<float> c = o.c0;
      small_cache.gemm(k.ta, k.tb, k.M, k.N, k.K, k.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, k.beta, c.data(),
                       o.ldc);
      double worst = 0;
      for (int64_t m = 0; m < k.M; ++m)
        for (int64_t n = 0; n < k.N; ++n)
          worst = std::max(worst, std::abs(c[m * o.ldc + n] - ref[m * o.ldc + n]) / std::max(mag[m * o.ldc + n], 1e-30));
      EXPECT_LE(worst, kAccumulationTol) << "pass " << pass << " " << label(k);
    }
}

TEST(CpuGemm, Bf16MatchesReferenceOnRoundedInputs) {
  if (!bf16_available()) GTEST_SKIP() << "no bf16 matmul on this CPU";
  const Backend<float> be = make_cpu_backend<float>(1, Precision::bf16);
  uint64_t seed = 100;
  for (const Case& k : cases()) {
    const Operands o = make_operands(k, seed += 3);
    std::vector<double> ref, mag, ref_exact, mag_exact;
    reference(k, o, [](float x) { return double(bf16_to_float(bf16(x))); }, ref, mag);
    EXPECT_LE(worst_relative_error(*be.core, k, o, ref, mag), kAccumulationTol) << label(k);
    // And the inputs really were rounded: against unrounded inputs the error is
    // of bf16's size (2⁻⁸ relative per input), far above fp32 accumulation.
    reference(k, o, [](float x) { return double(x); }, ref_exact, mag_exact);
    EXPECT_GT(worst_relative_error(*be.core, k, o, ref_exact, mag_exact), 1e-4) << label(k);
  }
}

TEST(CpuGemm, EmptyInnerDimensionLeavesBetaC) {
  for (Precision p : {Precision::fp32, Precision::bf16}) {
    if (p == Precision::bf16 && !bf16_available()) continue;
    const Backend<float> be = make_cpu_backend<float>(1, p);
    std::vector<float> c = {1, 2, 3, 4};
    be.core->gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 2}));
    be.core->gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
  }
}

TEST(CpuGemm, Bf16NeedsTheFloatBackend) {
  EXPECT_THROW(make_cpu_backend<double>(1, Precision::bf16), ConfigError);
}

// The grouped form gives every item what gemm() gives it, whether the items run
// one after another (double; big items) or one per thread (small float items).
template <class T>
void check_grouped(const Backend<T>& be, bool ta, bool tb, T beta, double tol) {
  const std::vector<int64_t> rows = {5, 0, 17, 1, 9, 33};  // varying M, one empty, like expert row counts
  const int64_t N = 12, K = 20;
  std::vector<Tensor<T>> a, b, c, expect;
  std::vector<GemmGroupItem<T>> items;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t M = rows[i];
    a.emplace_back(Shape{M * K + 1});
    b.emplace_back(Shape{K * N});
    c.emplace_back(Shape{M * N + 1});
    test::fill_normal(a.back(), 10 + i);
    test::fill_normal(b.back(), 20 + i);
    test::fill_normal(c.back(), 30 + i);
    expect.push_back(c.back());
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t M = rows[i];
    items.push_back({M, N, K, a[i].data(), ta ? M : K, b[i].data(), tb ? K : N, c[i].data(), N});
    be.core->gemm(ta, tb, M, N, K, T(1), a[i].data(), ta ? M : K, b[i].data(), tb ? K : N, beta, expect[i].data(), N);
  }
  be.core->gemm_grouped(ta, tb, T(1), beta, items.data(), int64_t(items.size()));
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t j = 0; j < c[i].numel(); ++j) ASSERT_NEAR(c[i][j], expect[i][j], tol) << "item " << i << " elem " << j;
}

// Items large enough for OpenBLAS where untransposed-B GEMMs go there: the
// grouped call then runs them one after another (never two OpenBLAS calls at once).
TEST(CpuGemm, GroupedLargeItemsEqualOneGemmPerItem) {
  const Backend<float> be = make_cpu_backend<float>(2);
  for (bool ta : {false, true}) {
    // Several large items: where they go to OpenBLAS (CPUs without AVX-512), two
    // single-threaded calls run at once, and each result must still be its own.
    const std::vector<int64_t> rows = {300, 0, 200, 260, 310, 280};
    const int64_t N = 520, K = 400;
    std::vector<Tensor<float>> a, b, c, expect;
    std::vector<GemmGroupItem<float>> items;
    for (size_t i = 0; i < rows.size(); ++i) {
      a.emplace_back(Shape{rows[i] * K});
      b.emplace_back(Shape{K * N});
      c.emplace_back(Shape{rows[i] * N});
      test::fill_normal(a.back(), 40 + i);
      test::fill_normal(b.back(), 50 + i);
      test::fill_normal(c.back(), 60 + i);
      expect.push_back(c.back());
      const int64_t lda = ta ? rows[i] : K;
      items.push_back({rows[i], N, K, a[i].data(), lda, b[i].data(), N, c[i].data(), N});
      be.core->gemm(ta, false, rows[i], N, K, 1.0f, a[i].data(), lda, b[i].data(), N, 1.0f, expect[i].data(), N);
    }
    be.core->gemm_grouped(ta, false, 1.0f, 1.0f, items.data(), int64_t(items.size()));
    for (size_t i = 0; i < rows.size(); ++i)
      for (int64_t j = 0; j < c[i].numel(); ++j)
        ASSERT_NEAR(c[i][j], expect[i][j], 1e-4) << (ta ? "TN" : "NN") << " item " << i << " elem " << j;
  }
}

TEST(CpuGemm, GroupedEqualsOneGemmPerItem) {
  const Backend<double> bd = make_cpu_backend<double>(1);
  const Backend<float> bf = make_cpu_backend<float>(2);  // 2 threads: small items go one per thread
  const bool with_bf16 = bf16_available();
  const Backend<float> bb = make_cpu_backend<float>(2, with_bf16 ? Precision::bf16 : Precision::fp32);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_grouped<double>(bd, ta, tb, 1.0, 0.0);
      check_grouped<float>(bf, ta, tb, 0.0f, 1e-5);
      check_grouped<float>(bb, ta, tb, 1.0f, 1e-5);
    }
}

}  // namespace
}  // namespace sy
