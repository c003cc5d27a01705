// tests/unit/cpu_threads_test.cpp — the CPU backend's threaded kernels: same bits at 1 and 3 threads; float fast math vs float64.
//
// parallel_for splits loops into contiguous pieces whose outputs are disjoint
// and reductions into fixed pieces summed in order, so every kernel must give
// bit-identical results for any thread count.  The float kernels use the
// vectorisable exp/erf of cpu_math.h; they are checked against the float64
// kernels (libm) at float tolerance.
#include <cmath>
#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/backend.h"
#include "runtime/cpu/cpu_math.h"
#include "runtime/cpu/cpu_parallel.h"
#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

// Runs `kernel` (which writes `outs`) at 1 and at 3 threads and expects identical bits.
void expect_thread_invariant(const char* what, const std::function<void()>& kernel,
                             const std::vector<Tensor<float>*>& outs) {
  std::vector<std::vector<float>> one;
  set_cpu_loop_threads(1);
  kernel();
  for (auto* t : outs) one.emplace_back(t->data(), t->data() + t->numel());
  set_cpu_loop_threads(3);
  kernel();
  set_cpu_loop_threads(1);
  for (size_t i = 0; i < outs.size(); ++i)
    for (int64_t j = 0; j < outs[i]->numel(); ++j)
      ASSERT_EQ(one[i][j], (*outs[i])[j]) << what << " output " << i << " element " << j;
}

template <class T>
Tensor<T> filled(Shape s, uint64_t seed, double std = 1.0) {
  Tensor<T> t(std::move(s));
  test::fill_normal(t, seed, std);
  return t;
}

TEST(CpuThreads, AttentionIsThreadCountInvariant) {
  auto be = make_cpu_backend<float>();
  const int64_t B = 2, S = 37, Hq = 4, Hkv = 2, D = 8, n = B * S * Hq * D, nkv = B * S * Hkv * D;
  auto q = filled<float>({n}, 1), k = filled<float>({nkv}, 2), v = filled<float>({nkv}, 3), dout = filled<float>({n}, 4);
  Tensor<float> out({n}), lse({B * Hq * S}), dq({n}), dk({nkv}), dv({nkv});
  expect_thread_invariant("attention_forward", [&] {
    be.attn->attention_forward(B, S, Hq, Hkv, D, q.data(), k.data(), v.data(), out.data(), lse.data());
  }, {&out, &lse});
  expect_thread_invariant("attention_backward", [&] {
    be.attn->attention_backward(B, S, Hq, Hkv, D, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(),
                                dq.data(), dk.data(), dv.data());
  }, {&dq, &dk, &dv});
  Tensor<float> r({n});  // (a Tensor copy would share q's storage)
  expect_thread_invariant("rope", [&] {
    std::copy(q.data(), q.data() + n, r.data());
    be.attn->rope_forward(B, S, Hq, D, 10000.0, r.data());
  }, {&r});
}

TEST(CpuThreads, NnKernelsAreThreadCountInvariant) {
  auto be = make_cpu_backend<float>();
  const int64_t N = 67, d = 130, n = 1 << 17, V = 301;
  auto x = filled<float>({n}, 5, 2.0), up = filled<float>({n}, 6), dy = filled<float>({n}, 7);
  Tensor<float> y({n}), dx({n}), dup({n});
  expect_thread_invariant("gelu", [&] {
    be.nn->gelu_forward(n, x.data(), y.data());
    be.nn->gelu_backward(n, x.data(), dy.data(), dx.data());
  }, {&y, &dx});
  expect_thread_invariant("swiglu", [&] {
    be.nn->swiglu_forward(n, x.data(), up.data(), y.data());
    be.nn->swiglu_backward(n, x.data(), up.data(), dy.data(), dx.data(), dup.data());
  }, {&y, &dx, &dup});
  auto xn = filled<float>({N, d}, 8), w = filled<float>({d}, 9), b = filled<float>({d}, 10),
       dyn = filled<float>({N, d}, 11);
  Tensor<float> yn({N, d}), mean({N}), rstd({N}), dxn({N, d}), dw({d}), db({d});
  expect_thread_invariant("layernorm", [&] {
    dw.zero(), db.zero();
    be.nn->layernorm_forward(N, d, xn.data(), w.data(), b.data(), 1e-5, yn.data(), mean.data(), rstd.data());
    be.nn->layernorm_backward(N, d, xn.data(), w.data(), mean.data(), rstd.data(), dyn.data(), dxn.data(), dw.data(),
                              db.data());
  }, {&yn, &mean, &rstd, &dxn, &dw, &db});
  expect_thread_invariant("rmsnorm", [&] {
    dw.zero();
    be.nn->rmsnorm_forward(N, d, xn.data(), w.data(), 1e-6, yn.data(), rstd.data());
    be.nn->rmsnorm_backward(N, d, xn.data(), w.data(), rstd.data(), dyn.data(), dxn.data(), dw.data());
  }, {&yn, &rstd, &dxn, &dw});
  auto logits = filled<float>({N, V}, 12, 3.0);
  std::vector<int32_t> tgt(N);
  for (int64_t i = 0; i < N; ++i) tgt[i] = int32_t((i * 37) % V);
  Tensor<float> g({N, V}), loss({1});
  expect_thread_invariant("cross_entropy", [&] {
    loss[0] = float(be.nn->cross_entropy(N, V, logits.data(), tgt.data(), 0.5f, g.data()));
  }, {&g, &loss});
}

TEST(CpuThreads, CoreKernelsAreThreadCountInvariant) {
  auto be = make_cpu_backend<float>();
  const int64_t n = (1 << 18) + 13;
  auto p0 = filled<float>({n}, 13), g = filled<float>({n}, 14, 0.1), a = filled<float>({n}, 15);
  Tensor<float> p({n}), m({n}), v({n}), out({n}), ss({1});
  expect_thread_invariant("adamw + sum_squares + add", [&] {
    std::copy(p0.data(), p0.data() + n, p.data());
    m.zero(), v.zero();
    be.core->adamw(n, p.data(), g.data(), m.data(), v.data(), 1e-3, 0.9, 0.95, 1e-8, 0.1, 3, 0.7);
    ss[0] = float(be.core->sum_squares(n, g.data()));
    be.core->add(n, a.data(), g.data(), out.data());
  }, {&p, &m, &v, &ss, &out});
}

TEST(CpuMath, FloatExpAndErfMatchLibmToFloatPrecision) {
  double worst_exp = 0, worst_erf = 0;
  for (double x = -80; x <= 88; x += 0.01) {
    const float xf = float(x);
    worst_exp = std::max(worst_exp, std::fabs(double(cpu_math::exp(xf)) / std::exp(double(xf)) - 1.0));
  }
  for (double x = -8; x <= 8; x += 0.001) {
    const float xf = float(x);
    worst_erf = std::max(worst_erf, std::fabs(double(cpu_math::erf(xf)) - std::erf(double(xf))));
  }
  EXPECT_LT(worst_exp, 2e-7);
  EXPECT_LT(worst_erf, 1e-6);
  EXPECT_EQ(cpu_math::exp(-200.0f), 0.0f);
  EXPECT_TRUE(std::isinf(cpu_math::exp(200.0f)));
  EXPECT_TRUE(std::isnan(cpu_math::exp(std::nanf(""))));
  EXPECT_EQ(cpu_math::erf(0.0f), 0.0f);
}

// The float kernels (fast exp/erf) against the float64 kernels (libm) on the same inputs.
TEST(CpuMath, FloatActivationsAndCrossEntropyMatchFloat64) {
  auto be32 = make_cpu_backend<float>();
  auto be64 = make_cpu_backend<double>();
  const int64_t n = 4001, N = 7, V = 513;
  auto x64 = filled<double>({n}, 21, 3.0), u64 = filled<double>({n}, 22), dy64 = filled<double>({n}, 23);
  Tensor<float> x({n}), u({n}), dy({n});
  for (int64_t i = 0; i < n; ++i) x[i] = float(x64[i]), u[i] = float(u64[i]), dy[i] = float(dy64[i]);
  for (int64_t i = 0; i < n; ++i) x64[i] = x[i], u64[i] = u[i], dy64[i] = dy[i];  // same inputs exactly
  Tensor<float> y({n}), dx({n}), dup({n});
  Tensor<double> y64({n}), dx64({n}), dup64({n});
  auto close = [](double a, double b, double tol) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); };
  be32.nn->gelu_forward(n, x.data(), y.data());
  be64.nn->gelu_forward(n, x64.data(), y64.data());
  be32.nn->gelu_backward(n, x.data(), dy.data(), dx.data());
  be64.nn->gelu_backward(n, x64.data(), dy64.data(), dx64.data());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(close(y[i], y64[i], 2e-6)) << "gelu " << x[i] << ": " << y[i] << " vs " << y64[i];
    ASSERT_TRUE(close(dx[i], dx64[i], 2e-6)) << "gelu' " << x[i];
  }
  be32.nn->swiglu_forward(n, x.data(), u.data(), y.data());
  be64.nn->swiglu_forward(n, x64.data(), u64.data(), y64.data());
  be32.nn->swiglu_backward(n, x.data(), u.data(), dy.data(), dx.data(), dup.data());
  be64.nn->swiglu_backward(n, x64.data(), u64.data(), dy64.data(), dx64.data(), dup64.data());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(close(y[i], y64[i], 2e-6)) << "swiglu " << i;
    ASSERT_TRUE(close(dx[i], dx64[i], 2e-6)) << "swiglu dgate " << i;
    ASSERT_TRUE(close(dup[i], dup64[i], 2e-6)) << "swiglu dup " << i;
  }
  auto z64 = filled<double>({N, V}, 24, 4.0);
  Tensor<float> z({N, V}), g({N, V});
  Tensor<double> g64({N, V});
  for (int64_t i = 0; i < N * V; ++i) z[i] = float(z64[i]), z64[i] = z[i];
  std::vector<int32_t> tgt = {0, 5, 512, 77, 300, 1, 2};
  const double ce = be32.nn->cross_entropy(N, V, z.data(), tgt.data(), 0.25f, g.data());
  const double ce64 = be64.nn->cross_entropy(N, V, z64.data(), tgt.data(), 0.25, g64.data());
  EXPECT_NEAR(ce, ce64, 1e-5 * std::fabs(ce64));
  for (int64_t i = 0; i < N * V; ++i) ASSERT_NEAR(g[i], g64[i], 1e-7) << i;
}

}  // namespace
}  // namespace sy
