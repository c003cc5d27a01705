// tests/unit/op_operands_test.cpp — every op operand model code passes is tensor memory (what the CUDA training path needs).
//
// With train.device = cuda, Tensor storage is CUDA managed memory and kernels read
// only that: a std::vector's host buffer handed to an op would fault on the GPU.
// This test proves the discipline on the CPU.  Tensor memory is replaced by a
// tracking allocator, the CPU backend is wrapped by hooks that look up every
// operand of every op, and whole training steps (and an evaluation pass) run over
// models that together use every layer and routing option.  The same hooked run
// must also give bit-identical losses to the plain CPU backend: the decorator adds
// nothing to the arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "runtime/hooked_backend.h"
#include "small_models.h"

namespace sy {
namespace {

// Every live tensor allocation, start → bytes.
std::mutex g_mutex;
std::map<const char*, size_t> g_live;
int64_t g_allocations = 0, g_zeroes = 0;

void* tracked_allocate(size_t bytes) {
  void* p = ::operator new[](bytes, std::align_val_t{64});
  std::lock_guard lock(g_mutex);
  g_live[static_cast<const char*>(p)] = bytes;
  ++g_allocations;
  return p;
}
void tracked_release(void* p) {
  {
    std::lock_guard lock(g_mutex);
    g_live.erase(static_cast<const char*>(p));
  }
  ::operator delete[](p, std::align_val_t{64});
}
void tracked_zero(void* p, size_t bytes) {
  std::memset(p, 0, bytes);
  std::lock_guard lock(g_mutex);
  ++g_zeroes;
}
bool is_tensor_memory(const void* p) {
  const char* c = static_cast<const char*>(p);
  std::lock_guard lock(g_mutex);
  auto it = g_live.upper_bound(c);
  if (it == g_live.begin()) return false;
  --it;
  return c < it->first + it->second;
}

// Installs the tracking memory for one scope (tensors made inside keep it after).
struct TrackedTensorMemory {
  TrackedTensorMemory() { set_tensor_memory({"tracked", &tracked_allocate, &tracked_release, &tracked_zero}); }
  ~TrackedTensorMemory() { set_tensor_memory(host_tensor_memory()); }
};

// Records each op whose operand lies outside every tensor allocation.
class CheckOperands final : public OpHooks {
 public:
  void before(const char* op, std::initializer_list<const void*> operands) override {
    int i = 0;
    for (const void* p : operands) {
      if (p && !is_tensor_memory(p)) violations.insert(std::string(op) + " operand " + std::to_string(i));
      ++i;
    }
    ++calls;
  }
  std::set<std::string> violations;
  int64_t calls = 0;
};

struct Case {
  const char* name;
  ModelConfig model;
  MoeConfig moe;
  int a2a_chunks = 1;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  std::vector<Case> out;
  const test::SmallModel fairseq = test::fairseq_style(), olmoe = test::olmoe_style();
  out.push_back({"fairseq_2chunks", fairseq.model, fairseq.moe, 2});
  Case o{"olmoe_gumbel", olmoe.model, olmoe.moe};
  o.moe.router_noise = RouterNoise::gumbel;
  out.push_back(o);
  // Learned positions, ReLU, router input jitter, loss-free expert bias, top-1.
  Case c{"learned_relu_jitter", test::small_base(), {}};
  c.model.activation = Activation::relu;
  c.model.moe_layers = {0};
  c.moe.num_experts = 4;
  c.moe.top_k = 1;
  c.moe.router_noise = RouterNoise::jitter;
  c.moe.bias_update_rate = 0.001;
  out.push_back(c);
  return out;
}

// Three training steps and one evaluation pass; returns every loss.
std::vector<double> run(const Backend<float>& be, const Case& c) {
  test::SmallRun<float> r(be, {c.model, c.moe}, 11, 1e-2);
  for (auto* layer : r.model.moe_layers()) layer->set_a2a_chunks(c.a2a_chunks);
  std::vector<double> losses;
  for (int step = 1; step <= 3; ++step) {
    r.draw(step, 300 + step);
    const MicroBatchLoss l = r.step(be);
    losses.push_back(l.ce_sum);
    losses.push_back(l.aux);
  }
  r.ctx.training = false;
  losses.push_back(r.model.forward_loss(be, r.ctx, r.tokens.data(), r.dispatcher).ce_sum);
  return losses;
}

class OpOperands : public ::testing::TestWithParam<Case> {};

TEST_P(OpOperands, AreAllTensorMemoryAndHooksChangeNoValue) {
  const Case& c = GetParam();
  const std::vector<double> plain = run(make_cpu_backend<float>(1), c);

  auto check = std::make_shared<CheckOperands>();
  std::vector<double> hooked;
  {
    TrackedTensorMemory tracked;
    hooked = run(hook_backend(make_cpu_backend<float>(1), check), c);
  }
  EXPECT_GT(check->calls, 50);
  for (const std::string& v : check->violations) ADD_FAILURE() << v << " is not tensor memory";
  ASSERT_EQ(hooked.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_TRUE(std::isfinite(plain[i]));
    EXPECT_EQ(hooked[i], plain[i]) << "loss " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, OpOperands, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The checker itself: a std::vector handed to an op is caught, a tensor is not.
TEST(OpOperandsCheck, CatchesAHostVector) {
  auto check = std::make_shared<CheckOperands>();
  TrackedTensorMemory tracked;
  Backend<float> be = hook_backend(make_cpu_backend<float>(1), check);
  Tensor<float> t({4});
  std::vector<float> host(4, 1.f);
  be.core->add(4, t.data(), t.data(), t.data());
  EXPECT_TRUE(check->violations.empty());
  be.core->add(4, t.data(), host.data(), t.data());
  EXPECT_EQ(check->violations, std::set<std::string>{"add operand 1"});
  EXPECT_EQ(check->calls, 2);
}

// Tensors come from the installed memory, zero through it, and go back to the memory they came from.
TEST(TensorMemory, AllocatesZeroesAndReleasesThroughTheInstalledMemory) {
  const int64_t allocs = g_allocations, zeroes = g_zeroes;
  Tensor<float> t;
  {
    TrackedTensorMemory tracked;
    EXPECT_STREQ(tensor_memory().name, "tracked");
    t.resize({8, 4});
    EXPECT_TRUE(is_tensor_memory(t.data()));
    t.resize({2, 4});  // no growth: no allocation, but a zero fill
  }
  EXPECT_STREQ(tensor_memory().name, "host");
  EXPECT_EQ(g_allocations, allocs + 1);
  EXPECT_EQ(g_zeroes, zeroes + 2);
  t.zero();  // still tracked memory's zero after the host memory is back
  EXPECT_EQ(g_zeroes, zeroes + 3);
  Tensor<float> h({3});
  EXPECT_FALSE(is_tensor_memory(h.data()));
  t = Tensor<float>();  // released to the tracking memory
  std::lock_guard lock(g_mutex);
  EXPECT_TRUE(g_live.empty());
}

// resize_for_overwrite: no zero fill and, within capacity, no allocation (the dispatcher's landing buffers).
TEST(TensorMemory, ResizeForOverwriteNeitherZeroesNorReallocates) {
  TrackedTensorMemory tracked;
  Tensor<float> t({4, 3});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = float(i + 1);
  const int64_t allocs = g_allocations, zeroes = g_zeroes;
  const float* data = t.data();
  t.resize_for_overwrite({2, 5});
  EXPECT_TRUE(t.has_shape({2, 5}));
  EXPECT_EQ(t.data(), data);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t[i], float(i + 1));
  EXPECT_EQ(g_allocations, allocs);
  EXPECT_EQ(g_zeroes, zeroes);
  t.resize_for_overwrite({5, 5});  // beyond capacity: a new allocation, still no zero fill
  EXPECT_EQ(g_allocations, allocs + 1);
  EXPECT_EQ(g_zeroes, zeroes);
}

TEST(TensorMemory, FirstAllocationIsExactAndRegrowthTakesAtLeastHalfAgain) {
  TrackedTensorMemory tracked;
  Tensor<float> t({100});
  const int64_t allocs = g_allocations;
  t.resize_for_overwrite({101});  // grows again: capacity 150
  EXPECT_EQ(g_allocations, allocs + 1);
  const float* data = t.data();
  t.resize_for_overwrite({150});  // within it: routing that rises a little more costs nothing
  t.resize({3, 50});
  EXPECT_EQ(t.data(), data);
  EXPECT_EQ(g_allocations, allocs + 1);
  t.resize_for_overwrite({151});
  EXPECT_EQ(g_allocations, allocs + 2);
  t.resize_for_overwrite({225});  // 150 + 75
  EXPECT_EQ(g_allocations, allocs + 2);
  t.resize_for_overwrite({1000});  // a jump past half again: exactly what is asked
  t.resize_for_overwrite({226});
  EXPECT_EQ(g_allocations, allocs + 3);
  Tensor<float> exact;
  exact.resize({7});
  const int64_t before = g_allocations;
  exact.resize({8});  // the first allocation had no slack
  EXPECT_EQ(g_allocations, before + 1);
}

// zero_cold: zeros exactly the range, for every alignment of its ends, on both
// sides of the size where the host switches from memset to streaming stores.
TEST(TensorMemory, HostZeroColdClearsExactlyTheRange) {
  const size_t kMax = (size_t(200) << 10) + 200;
  std::vector<unsigned char> buf(kMax + 256);
  for (size_t offset : {size_t(0), size_t(1), size_t(13), size_t(64)})
    for (size_t bytes : {size_t(0), size_t(5), (size_t(64) << 10) - 1, size_t(64) << 10, (size_t(64) << 10) + 3,
                         (size_t(200) << 10) + 7}) {
      std::fill(buf.begin(), buf.end(), 0xAB);
      unsigned char* base = buf.data() + 64 - reinterpret_cast<uintptr_t>(buf.data()) % 64;  // 64-aligned
      host_zero_cold(base + offset, bytes);
      for (size_t i = 0; i < kMax; ++i) {
        const bool inside = i >= offset && i < offset + bytes;
        ASSERT_EQ(base[i], inside ? 0 : 0xAB) << "offset " << offset << " bytes " << bytes << " at " << i;
      }
    }
}

// A memory without zero_cold (CUDA managed memory) zeroes cold buffers with its `zero`.
TEST(TensorMemory, ZeroColdFallsBackToTheMemorysZero) {
  TrackedTensorMemory tracked;
  Tensor<float> t({64, 1024});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = 1.f;
  const int64_t zeroes = g_zeroes;
  t.zero_cold();
  EXPECT_EQ(g_zeroes, zeroes + 1);
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t[i], 0.f) << i;
}

}  // namespace
}  // namespace sy
