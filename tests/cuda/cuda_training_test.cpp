// tests/cuda/cuda_training_test.cpp — the whole model trained on the CUDA training backend vs the CPU backend.
//
// Same configuration, same initial weights, same batches: the loss of every step
// within 1e-4 relative and, after the first backward, every gradient element
// within 1e-3 · (1 + |cpu|) (fp32 on both; GEMMs without TF32).  Needs a GPU:
// without one every test skips with "no CUDA device: <reason>".
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/transformer.h"
#include "runtime/device.h"
#include "runtime/optimizer.h"
#include "runtime/rng.h"

namespace sy {
namespace {

std::string no_device_reason() {
  const CudaProbe p = probe_cuda();
  return p.device_count > 0 ? "" : (p.error.empty() ? "0 devices" : p.error);
}

// fairseq-style and OLMoE-style in one small model: dense + MoE layers, shared expert, RoPE, GQA.
struct TrainRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> first_grads;  // every parameter's gradient after step 1's backward
};

TrainRun train(const Backend<float>& be, bool olmoe) {
  ModelConfig m;
  m.vocab_size = 53;
  m.d_model = 32;
  m.n_layers = 2;
  m.n_heads = 4;
  m.d_ff = 48;
  m.max_seq_len = 16;
  MoeConfig moe;
  moe.num_experts = 4;
  moe.top_k = 2;
  moe.d_expert = 24;
  moe.aux_loss_coef = 0.01;
  if (olmoe) {
    m.n_kv_heads = 2;
    m.norm = NormKind::rmsnorm;
    m.activation = Activation::swiglu;
    m.positions = Positions::rope;
    m.bias = false;
    m.tie_embeddings = false;
    m.moe_layers = {0, 1};
    moe.shared_experts = 1;
    moe.z_loss_coef = 0.001;
  } else {
    m.positions = Positions::sinusoidal;
    m.moe_layers = {1};
    moe.capacity_factor = 1.0;
  }
  Transformer<float> model(m, moe);
  init_parameters(model.params(), 21);
  TrainConfig tc;
  tc.lr = 3e-3;
  AdamW<float> opt(model.params(), tc);
  register_gemm_weights(be, model.params());
  LocalDispatcher<float> dispatcher;
  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 16;
  ctx.training = true;
  std::vector<int32_t> tokens(ctx.batch * (ctx.seq_len + 1));
  TrainRun run;
  for (int step = 1; step <= 5; ++step) {
    Rng rng(900 + step);
    for (auto& t : tokens) t = static_cast<int32_t>(rng.below(m.vocab_size));
    ctx.step = step;
    model.params().zero_grad();
    const MicroBatchLoss l = model.forward_backward(be, ctx, tokens.data(), dispatcher);
    run.losses.push_back(l.ce_sum / double(l.tokens));
    if (step == 1)
      for (auto& p : model.params())
        if (p.trainable) run.first_grads.emplace_back(p.grad.data(), p.grad.data() + p.grad.numel());
    const double norm = std::sqrt(grad_sum_squares(be, model.params(), ParamGroup::dense) +
                                  grad_sum_squares(be, model.params(), ParamGroup::expert));
    opt.step(be, tc.lr, clip_factor(norm, 1.0));
  }
  return run;
}

class CudaTraining : public ::testing::TestWithParam<bool> {};

TEST_P(CudaTraining, MatchesTheCpuBackend) {
  if (const std::string why = no_device_reason(); !why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  const bool olmoe = GetParam();
  const TrainRun cpu = train(make_cpu_backend<float>(1), olmoe);
  TrainRun gpu;
  {
    const Backend<float> be = make_cuda_training_backend(0);  // tensors from here on are managed memory
    EXPECT_STREQ(tensor_memory().name, "cuda-managed");
    gpu = train(be, olmoe);
  }
  set_tensor_memory(host_tensor_memory());
  ASSERT_EQ(gpu.losses.size(), cpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 1e-4 * std::abs(cpu.losses[i])) << "step " << i + 1;
  ASSERT_EQ(gpu.first_grads.size(), cpu.first_grads.size());
  for (size_t p = 0; p < cpu.first_grads.size(); ++p) {
    ASSERT_EQ(gpu.first_grads[p].size(), cpu.first_grads[p].size());
    for (size_t i = 0; i < cpu.first_grads[p].size(); ++i) {
      const double want = cpu.first_grads[p][i];
      ASSERT_NEAR(gpu.first_grads[p][i], want, 1e-3 * (1 + std::abs(want))) << "parameter " << p << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaTraining, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "olmoe" : "fairseq"); });

}  // namespace
}  // namespace sy
