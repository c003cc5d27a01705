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
#include "runtime/optimizer.h"
#include "runtime/rng.h"

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
  ModelConfig base;
  base.vocab_size = 37;
  base.d_model = 16;
  base.n_layers = 2;
  base.n_heads = 2;
  base.d_ff = 24;
  base.max_seq_len = 16;
  std::vector<Case> out;
  {  // fairseq: LayerNorm, GELU, sinusoidal, biases, tied, top-2 with capacity drops, dense + MoE, 2 chunks.
    Case c{"fairseq", base, {}, 2};
    c.model.positions = Positions::sinusoidal;
    c.model.position_offset = 2;
    c.model.scale_embeddings = true;
    c.model.moe_layers = {1};
    c.moe.num_experts = 4;
    c.moe.top_k = 2;
    c.moe.d_expert = 24;
    c.moe.capacity_factor = 1.0;
    c.moe.normalize_topk = true;
    c.moe.aux_loss_coef = 0.01;
    out.push_back(c);
  }
  {  // OLMoE: RMSNorm, SwiGLU, RoPE, GQA, untied, dropless top-4 of 8, shared expert, z-loss, Gumbel selection.
    Case c{"olmoe", base, {}};
    c.model.n_heads = 4;
    c.model.n_kv_heads = 2;
    c.model.norm = NormKind::rmsnorm;
    c.model.activation = Activation::swiglu;
    c.model.positions = Positions::rope;
    c.model.bias = false;
    c.model.tie_embeddings = false;
    c.model.moe_layers = {0, 1};
    c.moe.num_experts = 8;
    c.moe.top_k = 4;
    c.moe.d_expert = 8;
    c.moe.shared_experts = 1;
    c.moe.aux_loss_coef = 0.01;
    c.moe.z_loss_coef = 0.001;
    c.moe.router_noise = RouterNoise::gumbel;
    out.push_back(c);
  }
  {  // Learned positions, ReLU, router input jitter, loss-free expert bias.
    Case c{"learned_relu_jitter", base, {}};
    c.model.positions = Positions::learned;
    c.model.activation = Activation::relu;
    c.model.moe_layers = {0};
    c.moe.num_experts = 4;
    c.moe.top_k = 1;
    c.moe.router_noise = RouterNoise::jitter;
    c.moe.bias_update_rate = 0.001;
    out.push_back(c);
  }
  return out;
}

// Three training steps and one evaluation pass; returns every loss.
std::vector<double> run(const Backend<float>& be, const Case& c) {
  Transformer<float> model(c.model, c.moe);
  for (auto* layer : model.moe_layers()) layer->set_a2a_chunks(c.a2a_chunks);
  init_parameters(model.params(), 11);
  TrainConfig tc;
  tc.lr = 1e-2;
  AdamW<float> opt(model.params(), tc);
  register_gemm_weights(be, model.params());
  LocalDispatcher<float> dispatcher;
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 12;
  std::vector<int32_t> tokens(ctx.batch * (ctx.seq_len + 1));
  std::vector<double> losses;
  for (int step = 1; step <= 4; ++step) {
    Rng rng(300 + step);
    for (auto& t : tokens) t = static_cast<int32_t>(rng.below(c.model.vocab_size));
    ctx.step = step;
    ctx.training = step < 4;
    if (!ctx.training) {
      losses.push_back(model.forward_loss(be, ctx, tokens.data(), dispatcher).ce_sum);
      break;
    }
    model.params().zero_grad();
    const MicroBatchLoss l = model.forward_backward(be, ctx, tokens.data(), dispatcher);
    const double norm = std::sqrt(grad_sum_squares(be, model.params(), ParamGroup::dense) +
                                  grad_sum_squares(be, model.params(), ParamGroup::expert));
    opt.step(be, tc.lr, clip_factor(norm, 1.0));
    losses.push_back(l.ce_sum);
    losses.push_back(l.aux);
  }
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

}  // namespace
}  // namespace sy
