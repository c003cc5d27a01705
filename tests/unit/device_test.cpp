// tests/unit/device_test.cpp — train.device decisions: the refusal messages (exit 2), this build's answer, GPU per local rank.
#include <gtest/gtest.h>

#include "launch/training_backend.h"
#include "runtime/device.h"
#include "runtime/error.h"

namespace sy {
namespace {

CudaProbe probe(bool built, int devices, std::string error = "") { return CudaProbe{built, devices, std::move(error)}; }

TEST(Device, CpuIsAlwaysUsable) {
  EXPECT_EQ(device_refusal(DeviceKind::cpu, probe(false, 0)), "");
  EXPECT_NO_THROW(require_usable_device(DeviceKind::cpu));
}

TEST(Device, CudaWithoutTheBackendNamesTheCmakeOption) {
  EXPECT_EQ(device_refusal(DeviceKind::cuda, probe(false, 0, "this build has no CUDA backend")),
            "train.device = cuda: this build has no CUDA backend (configure with -DSWITCHYARD_CUDA=ON)");
}

TEST(Device, CudaWithoutADeviceQuotesTheRuntime) {
  EXPECT_EQ(device_refusal(DeviceKind::cuda, probe(true, 0, "cudaErrorNoDevice: no CUDA-capable device is detected")),
            "train.device = cuda: no usable CUDA device (cudaErrorNoDevice: no CUDA-capable device is detected)");
  EXPECT_EQ(device_refusal(DeviceKind::cuda, probe(true, 0)),
            "train.device = cuda: no usable CUDA device (the CUDA runtime reports 0 devices)");
}

TEST(Device, CudaWithADeviceIsUsable) { EXPECT_EQ(device_refusal(DeviceKind::cuda, probe(true, 2)), ""); }

// What this binary and this machine answer: cuda is usable exactly when the build has the
// backend and the runtime sees a device; otherwise one of the refusals, as a ConfigError (exit 2).
TEST(Device, ThisBuildAnswersCudaAsItsProbeSays) {
  const CudaProbe here = probe_cuda();
  EXPECT_EQ(here.built, cuda_backend_built());
  if (here.device_count == 0) {
    EXPECT_FALSE(here.error.empty());
  }
  std::printf("this build: CUDA backend %s, %d device(s)%s%s\n", here.built ? "built" : "not built",
              here.device_count, here.error.empty() ? "" : ": ", here.error.c_str());
  const std::string expected = device_refusal(DeviceKind::cuda, here);
  if (here.built && here.device_count > 0) {
    EXPECT_EQ(expected, "");
    EXPECT_NO_THROW(require_usable_device(DeviceKind::cuda));
    return;
  }
  ASSERT_FALSE(expected.empty());
  try {
    require_usable_device(DeviceKind::cuda);
    FAIL() << "train.device = cuda was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.what(), expected);
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

// bf16 with cuda is refused on any machine, before the device is even looked for.
TEST(Device, Bf16WithCudaIsRefusedEverywhere) {
  TrainConfig train;
  train.device = DeviceKind::cuda;
  train.precision = Precision::bf16;
  try {
    require_usable_training_device(train);
    FAIL() << "bf16 with cuda accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("train.precision = bf16 with train.device = cuda: ", 0), 0u) << e.what();
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
  train.device = DeviceKind::cpu;
  EXPECT_NO_THROW(require_usable_training_device(train));  // the CPU backend decides bf16 by the CPU
  EXPECT_EQ(make_training_backend(TrainConfig{}, 1).name, "cpu");
}

TEST(Device, OneGpuPerRankByLocalRank) {
  EXPECT_EQ(device_for_local_rank(0, 4, 4, "n1"), 0);
  EXPECT_EQ(device_for_local_rank(3, 4, 8, "n1"), 3);
  try {
    device_for_local_rank(1, 3, 2, "gpu07");
    FAIL() << "3 ranks on 2 GPUs accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "train.device = cuda: 3 ranks on gpu07 but 2 visible CUDA device(s); one GPU per rank (start at most 2 "
              "ranks per node)");
  }
}

}  // namespace
}  // namespace sy
