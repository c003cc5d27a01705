// tests/cuda/cuda_ops_test.cpp — every CUDA op against the CPU op on the same inputs, in fp32 and bf16.
//
// Needs a GPU: without one every test skips with "no CUDA device: <reason>".
// Tolerances (|got − want| ≤ tol · (1 + |want|)): fp32 1e-5; bf16 3e-2.  bf16 inputs are
// rounded to bf16 before both backends see them, so the bf16 tolerance covers only
// bf16 outputs and bf16-stored intermediates (lse, mean, rstd), not the inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "device_skip.h"
#include "runtime/backend.h"
#include "runtime/cuda/cuda_backend.h"
#include "runtime/cuda/grouped_gemm_runs.h"
#include "runtime/device.h"
#include "runtime/rng.h"

namespace sy {
namespace {

template <class T>
constexpr double kTol = std::is_same_v<T, float> ? 1e-5 : 3e-2;

template <class T>
float round_to(float x) {
  return static_cast<float>(static_cast<T>(x));
}

// Uniform values in [lo, hi), rounded to what T can hold.
template <class T>
std::vector<float> rnd(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = round_to<T>(lo + (hi - lo) * float(mix64(seed * 7919 + i) % 100000) / 100000.f);
  return v;
}

template <class T>
DeviceBuffer<T> up(const std::vector<float>& host) {
  std::vector<T> cast(host.begin(), host.end());
  DeviceBuffer<T> d(int64_t(host.size()));
  d.upload(cast.data(), int64_t(cast.size()));
  return d;
}
inline DeviceBuffer<int32_t> up_ids(const std::vector<int32_t>& ids) {
  DeviceBuffer<int32_t> d(int64_t(ids.size()));
  d.upload(ids.data(), int64_t(ids.size()));
  return d;
}
template <class T>
std::vector<float> down(const DeviceBuffer<T>& d) {
  SY_GPU(cudaDeviceSynchronize());
  const std::vector<T> host = d.download();
  return std::vector<float>(host.begin(), host.end());
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(double(got[i]) - double(want[i])), tol * (1 + std::abs(double(want[i]))))
        << what << " element " << i << ": got " << got[i] << ", want " << want[i];
}

template <class T>
class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_DEVICE();
    ctx = CudaContext::create(0);
    gpu = make_cuda_backend<T>(ctx);
  }
  std::shared_ptr<CudaContext> ctx;
  Backend<T> gpu;
  Backend<float> cpu = make_cpu_backend<float>(1);
  const double tol = kTol<T>;
};
using Types = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(CudaOps, Types);

// ---- core ----------------------------------------------------------------------------

TYPED_TEST(CudaOps, GemmEveryTransposeWithPaddedLeadingDimensions) {
  using T = TypeParam;
  for (int64_t K : {int64_t(6), int64_t(0)})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int64_t M = 5, N = 7, lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
        const auto A = rnd<T>((ta ? K : M) * lda + 1, 1), B = rnd<T>((tb ? N : K) * ldb + 1, 2);
        auto want = rnd<T>(M * ldc, 3);
        auto dA = up<T>(A), dB = up<T>(B), dC = up<T>(want);
        this->cpu.core->gemm(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, -1.0f, want.data(), ldc);
        this->gpu.core->gemm(ta, tb, M, N, K, T(0.5f), dA.data(), lda, dB.data(), ldb, T(-1.0f), dC.data(), ldc);
        expect_close(down(dC), want, this->tol,
                     "gemm K " + std::to_string(K) + " trans " + std::to_string(ta) + std::to_string(tb));
      }
}

TYPED_TEST(CudaOps, StridedBatchedGemmEqualsOneGemmPerProblem) {
  using T = TypeParam;
  const int64_t M = 4, N = 3, K = 5, batch = 3;
  const auto A = rnd<T>(batch * M * K, 4), B = rnd<T>(batch * K * N, 5);
  std::vector<float> want(batch * M * N, 0.f);
  for (int64_t b = 0; b < batch; ++b)
    this->cpu.core->gemm(false, false, M, N, K, 1.f, A.data() + b * M * K, K, B.data() + b * K * N, N, 0.f,
                         want.data() + b * M * N, N);
  auto dA = up<T>(A), dB = up<T>(B), dC = up<T>(std::vector<float>(batch * M * N, 7.f));
  auto& core = static_cast<CudaCoreOps<T>&>(*this->gpu.core);
  core.gemm_strided_batched(false, false, M, N, K, T(1.f), dA.data(), K, M * K, dB.data(), N, K * N, T(0.f),
                            dC.data(), N, M * N, batch);
  expect_close(down(dC), want, this->tol, "strided batched gemm");
}

// Experts back to back at equal capacity (one batched call), then two of other row
// counts (one call each): every item equals the CPU GEMM.
TYPED_TEST(CudaOps, GroupedGemmMixesBatchedRunsAndSingleCalls) {
  using T = TypeParam;
  const int64_t N = 4, K = 6;
  const std::vector<int64_t> rows = {3, 3, 3, 5, 2};
  int64_t total = 0;
  for (int64_t M : rows) total += M;
  const auto A = rnd<T>(total * K, 30), B = rnd<T>(int64_t(rows.size()) * K * N, 31);
  std::vector<float> want(total * N, 0.f);
  auto dA = up<T>(A), dB = up<T>(B), dC = up<T>(std::vector<float>(total * N, 0.f));
  std::vector<GemmGroupItem<T>> items;
  int64_t r0 = 0;
  for (size_t e = 0; e < rows.size(); ++e) {
    const int64_t M = rows[e];
    this->cpu.core->gemm(false, false, M, N, K, 1.f, A.data() + r0 * K, K, B.data() + e * K * N, N, 0.f,
                         want.data() + r0 * N, N);
    items.push_back({M, N, K, dA.data() + r0 * K, K, dB.data() + e * K * N, N, dC.data() + r0 * N, N});
    r0 += M;
  }
  ASSERT_EQ(grouped_gemm_runs(items.data(), int64_t(items.size())).size(), 3u);
  this->gpu.core->gemm_grouped(false, false, T(1.f), T(0.f), items.data(), int64_t(items.size()));
  expect_close(down(dC), want, this->tol, "grouped gemm");
}

// A repeated shape reuses its plan; past the cache's capacity a plan is built per
// call and results stay right (a wrong spill lifetime would show as garbage here).
TYPED_TEST(CudaOps, GemmPlansAreCachedPerShapeAndBounded) {
  using T = TypeParam;
  CudaCoreOps<T> core(this->ctx, /*max_cached_plans=*/1);
  for (int round = 0; round < 2; ++round)
    for (int64_t M : {int64_t(3), int64_t(5)}) {
      const int64_t N = 4, K = 6;
      const auto A = rnd<T>(M * K, 10 + M), B = rnd<T>(K * N, 20 + M);
      std::vector<float> want(M * N, 0.f);
      this->cpu.core->gemm(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, want.data(), N);
      auto dA = up<T>(A), dB = up<T>(B), dC = up<T>(std::vector<float>(M * N, 0.f));
      core.gemm(false, false, M, N, K, T(1.f), dA.data(), K, dB.data(), N, T(0.f), dC.data(), N);
      expect_close(down(dC), want, this->tol, "gemm M " + std::to_string(M) + " round " + std::to_string(round));
    }
  // M = 3 cached at its first call (1 build, then 1 hit); M = 5 spilled: built at both calls.
  EXPECT_EQ(core.plans().size(), 1u);
  EXPECT_EQ(core.plans().hits(), 1u);
  EXPECT_EQ(core.plans().builds(), 3u);
}

TYPED_TEST(CudaOps, ElementwiseReductionsAndAdamW) {
  using T = TypeParam;
  const int64_t rows = 6, cols = 33, n = rows * cols;
  const auto x = rnd<T>(n, 6), y0 = rnd<T>(n, 7), bias = rnd<T>(cols, 8), db0 = rnd<T>(cols, 9);
  auto dx = up<T>(x);
  {
    auto want = y0, dy = up<T>(y0);
    this->cpu.core->add_bias(rows, cols, bias.data(), want.data());
    auto dbias = up<T>(bias);
    this->gpu.core->add_bias(rows, cols, dbias.data(), dy.data());
    expect_close(down(dy), want, this->tol, "add_bias");
  }
  {
    auto want = db0, ddb = up<T>(db0);
    this->cpu.core->bias_grad(rows, cols, x.data(), want.data());
    this->gpu.core->bias_grad(rows, cols, dx.data(), ddb.data());
    expect_close(down(ddb), want, this->tol, "bias_grad");
  }
  {
    auto want = y0, dy = up<T>(y0);
    this->cpu.core->axpy(n, 0.25f, x.data(), want.data());
    this->gpu.core->axpy(n, T(0.25f), dx.data(), dy.data());
    expect_close(down(dy), want, this->tol, "axpy");
    this->cpu.core->add(n, x.data(), want.data(), want.data());
    this->gpu.core->add(n, dx.data(), dy.data(), dy.data());
    expect_close(down(dy), want, this->tol, "add in place");
    this->cpu.core->scale(n, -3.f, want.data());
    this->gpu.core->scale(n, T(-3.f), dy.data());
    expect_close(down(dy), want, this->tol, "scale");
  }
  const double ss_cpu = this->cpu.core->sum_squares(n, x.data()), ss_gpu = this->gpu.core->sum_squares(n, dx.data());
  EXPECT_NEAR(ss_gpu, ss_cpu, 1e-6 * ss_cpu);  // inputs are exactly representable; the sum is in double
  {
    auto p = x, m = rnd<T>(n, 10), v = rnd<T>(n, 11, 0.f, 1.f);
    auto dp = up<T>(p), dm = up<T>(m), dv = up<T>(v), dg = up<T>(y0);
    this->cpu.core->adamw(n, p.data(), y0.data(), m.data(), v.data(), 1e-2, 0.9, 0.95, 1e-8, 0.1, 3, 0.5);
    this->gpu.core->adamw(n, dp.data(), dg.data(), dm.data(), dv.data(), 1e-2, 0.9, 0.95, 1e-8, 0.1, 3, 0.5);
    expect_close(down(dp), p, this->tol, "adamw param");
    expect_close(down(dm), m, this->tol, "adamw exp_avg");
    expect_close(down(dv), v, this->tol, "adamw exp_avg_sq");
  }
}

// ---- nn -------------------------------------------------------------------------------

TYPED_TEST(CudaOps, EmbeddingsAndPositions) {
  using T = TypeParam;
  const int64_t N = 10, d = 12, V = 6, B = 2, S = 5, offset = 1;
  const std::vector<int32_t> ids = {0, 3, 3, 5, 1, 0, 2, 3, 4, 5};  // repeats accumulate
  const auto table = rnd<T>(V * d, 12), g = rnd<T>(N * d, 13), pos = rnd<T>((S + offset) * d, 14);
  auto dids = up_ids(ids);
  auto dtable = up<T>(table), dg = up<T>(g), dpos = up<T>(pos);
  std::vector<float> out(N * d);
  DeviceBuffer<T> dout(N * d);
  this->cpu.nn->embedding_forward(N, d, ids.data(), table.data(), 2.f, out.data());
  this->gpu.nn->embedding_forward(N, d, dids.data(), dtable.data(), T(2.f), dout.data());
  expect_close(down(dout), out, this->tol, "embedding_forward");
  auto grad = table;
  this->cpu.nn->embedding_backward(N, d, ids.data(), g.data(), 2.f, grad.data());
  this->gpu.nn->embedding_backward(N, d, dids.data(), dg.data(), T(2.f), dtable.data());
  expect_close(down(dtable), grad, this->tol, "embedding_backward");

  auto h = g;
  auto dh = up<T>(g);
  this->cpu.nn->add_positions(B, S, d, pos.data(), offset, h.data());
  this->gpu.nn->add_positions(B, S, d, dpos.data(), offset, dh.data());
  expect_close(down(dh), h, this->tol, "add_positions");
  auto ptable = pos;
  this->cpu.nn->positions_backward(B, S, d, g.data(), offset, ptable.data());
  this->gpu.nn->positions_backward(B, S, d, dg.data(), offset, dpos.data());
  expect_close(down(dpos), ptable, this->tol, "positions_backward");
}

TYPED_TEST(CudaOps, NormsForwardAndBackwardInPlace) {
  using T = TypeParam;
  const int64_t N = 7, d = 300;  // d > one block of threads
  const auto x = rnd<T>(N * d, 15, -2.f, 3.f), w = rnd<T>(d, 16), b = rnd<T>(d, 17), dy = rnd<T>(N * d, 18);
  auto dx_ = up<T>(x), dw_ = up<T>(w), db_ = up<T>(b);
  std::vector<float> y(N * d), mean(N), rstd(N);
  DeviceBuffer<T> gy(N * d), gmean(N), grstd(N);
  this->cpu.nn->layernorm_forward(N, d, x.data(), w.data(), b.data(), 1e-5, y.data(), mean.data(), rstd.data());
  this->gpu.nn->layernorm_forward(N, d, dx_.data(), dw_.data(), db_.data(), 1e-5, gy.data(), gmean.data(),
                                  grstd.data());
  expect_close(down(gy), y, this->tol, "layernorm y");
  expect_close(down(gmean), mean, this->tol, "layernorm mean");
  expect_close(down(grstd), rstd, this->tol, "layernorm rstd");
  // The GPU backward gets the CPU's statistics (rounded to T), so only the backward is compared.
  auto smean = up<T>(mean), srstd = up<T>(rstd);
  auto g = dy, gw = b, gb = w;
  auto ddy = up<T>(dy), dgw = up<T>(b), dgb = up<T>(w);
  std::vector<float> meanT(mean.size()), rstdT(rstd.size());
  for (size_t i = 0; i < mean.size(); ++i) meanT[i] = round_to<T>(mean[i]), rstdT[i] = round_to<T>(rstd[i]);
  this->cpu.nn->layernorm_backward(N, d, x.data(), w.data(), meanT.data(), rstdT.data(), g.data(), g.data(),
                                   gw.data(), gb.data());
  this->gpu.nn->layernorm_backward(N, d, dx_.data(), dw_.data(), smean.data(), srstd.data(), ddy.data(), ddy.data(),
                                   dgw.data(), dgb.data());
  expect_close(down(ddy), g, this->tol, "layernorm dx (in place)");
  expect_close(down(dgw), gw, this->tol, "layernorm dw");
  expect_close(down(dgb), gb, this->tol, "layernorm db");

  this->cpu.nn->rmsnorm_forward(N, d, x.data(), w.data(), 1e-6, y.data(), rstd.data());
  this->gpu.nn->rmsnorm_forward(N, d, dx_.data(), dw_.data(), 1e-6, gy.data(), grstd.data());
  expect_close(down(gy), y, this->tol, "rmsnorm y");
  expect_close(down(grstd), rstd, this->tol, "rmsnorm rstd");
  for (size_t i = 0; i < rstd.size(); ++i) rstdT[i] = round_to<T>(rstd[i]);
  srstd = up<T>(rstdT);
  g = dy;
  gw = b;
  ddy = up<T>(dy);
  dgw = up<T>(b);
  this->cpu.nn->rmsnorm_backward(N, d, x.data(), w.data(), rstdT.data(), g.data(), g.data(), gw.data());
  this->gpu.nn->rmsnorm_backward(N, d, dx_.data(), dw_.data(), srstd.data(), ddy.data(), ddy.data(), dgw.data());
  expect_close(down(ddy), g, this->tol, "rmsnorm dx (in place)");
  expect_close(down(dgw), gw, this->tol, "rmsnorm dw");
}

TYPED_TEST(CudaOps, Activations) {
  using T = TypeParam;
  const int64_t n = 1000;
  const auto x = rnd<T>(n, 19, -4.f, 4.f), u = rnd<T>(n, 20), dy = rnd<T>(n, 21);
  auto dx = up<T>(x), du = up<T>(u), ddy = up<T>(dy);
  std::vector<float> y(n), y2(n);
  DeviceBuffer<T> gy(n), gy2(n);
  auto& c = *this->cpu.nn;
  auto& g = *this->gpu.nn;
  c.gelu_forward(n, x.data(), y.data());
  g.gelu_forward(n, dx.data(), gy.data());
  expect_close(down(gy), y, this->tol, "gelu");
  c.gelu_backward(n, x.data(), dy.data(), y.data());
  g.gelu_backward(n, dx.data(), ddy.data(), gy.data());
  expect_close(down(gy), y, this->tol, "gelu backward");
  c.relu_forward(n, x.data(), y.data());
  g.relu_forward(n, dx.data(), gy.data());
  expect_close(down(gy), y, this->tol, "relu");
  c.relu_backward(n, x.data(), dy.data(), y.data());
  g.relu_backward(n, dx.data(), ddy.data(), gy.data());
  expect_close(down(gy), y, this->tol, "relu backward");
  c.swiglu_forward(n, x.data(), u.data(), y.data());
  g.swiglu_forward(n, dx.data(), du.data(), gy.data());
  expect_close(down(gy), y, this->tol, "swiglu");
  c.swiglu_backward(n, x.data(), u.data(), dy.data(), y.data(), y2.data());
  g.swiglu_backward(n, dx.data(), du.data(), ddy.data(), gy.data(), gy2.data());
  expect_close(down(gy), y, this->tol, "swiglu dgate");
  expect_close(down(gy2), y2, this->tol, "swiglu dup");
}

TYPED_TEST(CudaOps, CrossEntropyLossAndInPlaceGradient) {
  using T = TypeParam;
  const int64_t N = 5, V = 700;
  auto z = rnd<T>(N * V, 22, -3.f, 3.f);
  const std::vector<int32_t> targets = {0, 699, 5, 5, 350};
  auto dz = up<T>(z);
  auto dt = up_ids(targets);
  const double loss_cpu = this->cpu.nn->cross_entropy(N, V, z.data(), targets.data(), 0.2f, nullptr);
  const double loss_gpu = this->gpu.nn->cross_entropy(N, V, dz.data(), dt.data(), T(0.2f), nullptr);
  EXPECT_NEAR(loss_gpu, loss_cpu, (std::is_same_v<T, float> ? 1e-5 : 1e-3) * loss_cpu);
  this->cpu.nn->cross_entropy(N, V, z.data(), targets.data(), 0.2f, z.data());
  const double loss_inplace = this->gpu.nn->cross_entropy(N, V, dz.data(), dt.data(), T(0.2f), dz.data());
  EXPECT_NEAR(loss_inplace, loss_gpu, 1e-12 * loss_gpu);
  expect_close(down(dz), z, this->tol, "cross_entropy dlogits (in place)");
}

// ---- attention ----------------------------------------------------------------------------

TYPED_TEST(CudaOps, RopeForwardAndBackward) {
  using T = TypeParam;
  const int64_t B = 2, S = 9, H = 3, D = 8;
  auto x = rnd<T>(B * S * H * D, 23);
  auto dx = up<T>(x);
  this->cpu.attn->rope_forward(B, S, H, D, 10000.0, x.data());
  this->gpu.attn->rope_forward(B, S, H, D, 10000.0, dx.data());
  expect_close(down(dx), x, this->tol, "rope forward");
  this->cpu.attn->rope_backward(B, S, H, D, 500.0, x.data());
  this->gpu.attn->rope_backward(B, S, H, D, 500.0, dx.data());
  expect_close(down(dx), x, this->tol, "rope backward");
}

TYPED_TEST(CudaOps, CausalGqaAttentionForwardAndBackward) {
  using T = TypeParam;
  const int64_t B = 2, S = 11, Hq = 4, Hkv = 2, D = 16;
  const auto q = rnd<T>(B * S * Hq * D, 24, -2.f, 2.f), k = rnd<T>(B * S * Hkv * D, 25, -2.f, 2.f),
             v = rnd<T>(B * S * Hkv * D, 26), dout = rnd<T>(B * S * Hq * D, 27);
  auto dq_ = up<T>(q), dk_ = up<T>(k), dv_ = up<T>(v), ddout = up<T>(dout);
  std::vector<float> out(q.size()), lse(B * Hq * S), dq(q.size()), dk(k.size()), dv(v.size());
  DeviceBuffer<T> gout(int64_t(q.size())), glse(B * Hq * S), gdq(int64_t(q.size())), gdk(int64_t(k.size())),
      gdv(int64_t(v.size()));
  this->cpu.attn->attention_forward(B, S, Hq, Hkv, D, q.data(), k.data(), v.data(), out.data(), lse.data());
  this->gpu.attn->attention_forward(B, S, Hq, Hkv, D, dq_.data(), dk_.data(), dv_.data(), gout.data(), glse.data());
  expect_close(down(gout), out, this->tol, "attention out");
  expect_close(down(glse), lse, this->tol, "attention lse");
  // Both backwards from the CPU forward's out and lse (rounded to T).
  std::vector<float> outT(out.size()), lseT(lse.size());
  for (size_t i = 0; i < out.size(); ++i) outT[i] = round_to<T>(out[i]);
  for (size_t i = 0; i < lse.size(); ++i) lseT[i] = round_to<T>(lse[i]);
  auto sout = up<T>(outT), slse = up<T>(lseT);
  this->cpu.attn->attention_backward(B, S, Hq, Hkv, D, q.data(), k.data(), v.data(), outT.data(), lseT.data(),
                                     dout.data(), dq.data(), dk.data(), dv.data());
  this->gpu.attn->attention_backward(B, S, Hq, Hkv, D, dq_.data(), dk_.data(), dv_.data(), sout.data(), slse.data(),
                                     ddout.data(), gdq.data(), gdk.data(), gdv.data());
  expect_close(down(gdq), dq, this->tol, "attention dq");
  expect_close(down(gdk), dk, this->tol, "attention dk");
  expect_close(down(gdv), dv, this->tol, "attention dv");
}

// ---- moe --------------------------------------------------------------------------------

TYPED_TEST(CudaOps, RouterSoftmaxTopkStatisticsAndBackward) {
  using T = TypeParam;
  const int64_t N = 9, E = 8;
  const int k = 3;
  const auto logits = rnd<T>(N * E, 28, -2.f, 2.f), bias = rnd<T>(E, 29, -0.1f, 0.1f);
  auto dlogits_in = up<T>(logits);
  std::vector<float> probs(N * E), lse(N);
  DeviceBuffer<T> gprobs(N * E), glse(N);
  this->cpu.moe->router_softmax(N, E, logits.data(), probs.data(), lse.data());
  this->gpu.moe->router_softmax(N, E, dlogits_in.data(), gprobs.data(), glse.data());
  expect_close(down(gprobs), probs, this->tol, "router probs");
  expect_close(down(glse), lse, this->tol, "router lse");

  // Top-k, statistics and backward from the same (T-rounded) probabilities on both sides.
  for (auto& p : probs) p = round_to<T>(p);
  for (auto& l : lse) l = round_to<T>(l);
  auto sprobs = up<T>(probs), slse = up<T>(lse), sbias = up<T>(bias);
  for (bool normalize : {false, true}) {
    std::vector<int32_t> expert(N * k);
    std::vector<float> gate(N * k);
    DeviceBuffer<int32_t> gexpert(N * k);
    DeviceBuffer<T> ggate(N * k);
    this->cpu.moe->router_topk(N, E, k, probs.data(), probs.data(), bias.data(), normalize, expert.data(),
                               gate.data());
    this->gpu.moe->router_topk(N, E, k, sprobs.data(), sprobs.data(), sbias.data(), normalize, gexpert.data(),
                               ggate.data());
    SY_GPU(cudaDeviceSynchronize());
    EXPECT_EQ(gexpert.download(), expert) << "normalize " << normalize;
    expect_close(down(ggate), gate, this->tol, "router gate");

    const auto dgate = rnd<T>(N * k, 30), aux = rnd<T>(E, 31);
    auto sdgate = up<T>(dgate), saux = up<T>(aux);
    std::vector<float> dl(N * E);
    DeviceBuffer<T> gdl(N * E);
    this->cpu.moe->router_backward(N, E, k, probs.data(), lse.data(), expert.data(), dgate.data(), normalize,
                                   aux.data(), 0.01f, dl.data());
    this->gpu.moe->router_backward(N, E, k, sprobs.data(), slse.data(), gexpert.data(), sdgate.data(), normalize,
                                   saux.data(), T(0.01f), gdl.data());
    expect_close(down(gdl), dl, this->tol, "router_backward");
  }
  std::vector<double> ps_cpu(E), ps_gpu(E);
  double z_cpu, h_cpu, z_gpu, h_gpu;
  this->cpu.moe->router_statistics(N, E, probs.data(), lse.data(), ps_cpu.data(), &z_cpu, &h_cpu);
  this->gpu.moe->router_statistics(N, E, sprobs.data(), slse.data(), ps_gpu.data(), &z_gpu, &h_gpu);
  for (int64_t e = 0; e < E; ++e) EXPECT_NEAR(ps_gpu[e], ps_cpu[e], 1e-6) << "prob_sum " << e;
  EXPECT_NEAR(z_gpu, z_cpu, 1e-5 * (1 + z_cpu));
  EXPECT_NEAR(h_gpu, h_cpu, 1e-5 * (1 + h_cpu));
}

TYPED_TEST(CudaOps, GatherScatterCombineAndJitter) {
  using T = TypeParam;
  const int64_t N = 6, M = 9, d = 20;
  const std::vector<int32_t> token = {0, 2, 2, 5, 1, 0, 3, 4, 5}, gate_index = {0, 4, 5, 11, 2, 1, 6, 8, 10};
  const auto src = rnd<T>(N * d, 32), rows = rnd<T>(M * d, 33), gate = rnd<T>(2 * N, 34), y0 = rnd<T>(N * d, 35);
  auto dtoken = up_ids(token), dgi = up_ids(gate_index);
  auto dsrc = up<T>(src), drows_in = up<T>(rows), dgate_in = up<T>(gate);
  std::vector<float> dst(M * d);
  DeviceBuffer<T> gdst(M * d);
  this->cpu.moe->gather_rows(M, d, token.data(), src.data(), dst.data());
  this->gpu.moe->gather_rows(M, d, dtoken.data(), dsrc.data(), gdst.data());
  expect_close(down(gdst), dst, 0.0, "gather_rows (exact)");

  auto acc = y0;
  auto gacc = up<T>(y0);
  this->cpu.moe->scatter_add_rows(M, d, token.data(), rows.data(), acc.data());
  this->gpu.moe->scatter_add_rows(M, d, dtoken.data(), drows_in.data(), gacc.data());
  expect_close(down(gacc), acc, this->tol, "scatter_add_rows");

  auto y = y0;
  auto gy = up<T>(y0);
  this->cpu.moe->combine_rows(M, d, token.data(), gate_index.data(), gate.data(), rows.data(), y.data());
  this->gpu.moe->combine_rows(M, d, dtoken.data(), dgi.data(), dgate_in.data(), drows_in.data(), gy.data());
  expect_close(down(gy), y, this->tol, "combine_rows");

  const auto dy = rnd<T>(N * d, 36);
  auto ddy = up<T>(dy);
  std::vector<float> drows(M * d), dgate(2 * N, 0.f);
  DeviceBuffer<T> gdrows(M * d);
  auto gdgate = up<T>(dgate);
  this->cpu.moe->combine_rows_backward(M, d, token.data(), gate_index.data(), gate.data(), rows.data(), dy.data(),
                                       drows.data(), dgate.data());
  this->gpu.moe->combine_rows_backward(M, d, dtoken.data(), dgi.data(), dgate_in.data(), drows_in.data(), ddy.data(),
                                       gdrows.data(), gdgate.data());
  expect_close(down(gdrows), drows, this->tol, "combine_rows_backward drows");
  expect_close(down(gdgate), dgate, this->tol, "combine_rows_backward dgate");

  const auto mult = rnd<T>(N * d, 37, 0.99f, 1.01f);
  auto dmult = up<T>(mult);
  std::vector<float> j(N * d);
  DeviceBuffer<T> gj(N * d);
  this->cpu.moe->router_jitter(N * d, src.data(), mult.data(), j.data());
  this->gpu.moe->router_jitter(N * d, dsrc.data(), dmult.data(), gj.data());
  expect_close(down(gj), j, this->tol, "router_jitter");
}

}  // namespace
}  // namespace sy
