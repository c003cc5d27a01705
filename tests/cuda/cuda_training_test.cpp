// tests/cuda/cuda_training_test.cpp — the whole model trained on the CUDA training backend vs the CPU backend.
//
// Same configuration, same initial weights, same batches: the loss of every step
// within 1e-4 relative and, after the first backward, every gradient element
// within 1e-3 · (1 + |cpu|) (fp32 on both; GEMMs without TF32).  Needs a GPU:
// without one every test skips with "no CUDA device: <reason>".
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../unit/small_models.h"
#include "device_skip.h"
#include "model/transformer.h"
#include "runtime/device.h"

namespace sy {
namespace {

struct TrainRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> first_grads;  // every parameter's gradient after step 1's backward
};

TrainRun train(const Backend<float>& be, bool olmoe) {
  ModelConfig base = test::small_base();
  base.vocab_size = 53;
  base.d_model = 32;
  base.d_ff = 48;
  const test::SmallModel m = olmoe ? test::olmoe_style(base) : test::fairseq_style(base);
  test::SmallRun<float> r(be, m, 21, 3e-3, /*batch=*/2, /*seq_len=*/16);
  TrainRun run;
  for (int step = 1; step <= 5; ++step) {
    r.draw(step, 900 + step);
    const MicroBatchLoss l = r.step(be);
    run.losses.push_back(l.ce_sum / double(l.tokens));
    if (step == 1)  // AdamW leaves the gradients in place
      for (auto& p : r.model.params())
        if (p.trainable) run.first_grads.emplace_back(p.grad.data(), p.grad.data() + p.grad.numel());
  }
  return run;
}

class CudaTraining : public ::testing::TestWithParam<bool> {};

TEST_P(CudaTraining, MatchesTheCpuBackend) {
  SKIP_WITHOUT_DEVICE();
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
