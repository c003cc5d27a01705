// tests/cuda/cuda_check_test.cpp — SY_GPU's messages and error types for CUDA, cuBLASLt and NCCL codes, and the
// host-side helpers that need no device (these run on any machine the backend builds on).
#include <gtest/gtest.h>

#include <string>

#include "comm/nccl/nccl_transport.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/device.h"

namespace sy {
namespace {

template <class E, class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception of the expected type";
  return "";
}

TEST(CudaCheck, SuccessReturns) {
  EXPECT_NO_THROW(SY_GPU(cudaSuccess));
  EXPECT_NO_THROW(SY_GPU(CUBLAS_STATUS_SUCCESS));
  EXPECT_NO_THROW(SY_GPU(ncclSuccess));
}

TEST(CudaCheck, CudaFailureNamesTheCallTheErrorAndThePlace) {
  const std::string what = thrown<DeviceError>([] { SY_GPU(cudaErrorInvalidValue); });
  EXPECT_NE(what.find("cudaErrorInvalidValue failed: cudaErrorInvalidValue: invalid argument"), std::string::npos)
      << what;
  EXPECT_NE(what.find("cuda_check_test.cpp:"), std::string::npos) << what;
  EXPECT_EQ(DeviceError("x").code(), ExitCode::comm);
}

TEST(CudaCheck, NoDeviceOrDriverIsAConfigError) {
  EXPECT_NE(thrown<ConfigError>([] { SY_GPU(cudaErrorNoDevice); }).find("cudaErrorNoDevice"), std::string::npos);
  EXPECT_NE(thrown<ConfigError>([] { SY_GPU(cudaErrorInsufficientDriver); }).find("cudaErrorInsufficientDriver"),
            std::string::npos);
}

TEST(CudaCheck, CublasLtAndNcclFailures) {
  const std::string lt = thrown<DeviceError>([] { SY_GPU(CUBLAS_STATUS_NOT_SUPPORTED); });
  EXPECT_NE(lt.find("CUBLAS_STATUS_NOT_SUPPORTED"), std::string::npos) << lt;
  const std::string nccl = thrown<CommError>([] { SY_GPU(ncclInvalidArgument); });
  EXPECT_NE(nccl.find("ncclInvalidArgument failed: invalid argument"), std::string::npos) << nccl;
  EXPECT_EQ(CommError("x").code(), ExitCode::comm);
}

// On a machine without a GPU the real runtime call fails as a ConfigError; with one it succeeds.
TEST(CudaCheck, RealCallOnThisMachine) {
  int count = -1;
  const CudaProbe probe = probe_cuda();
  if (probe.device_count > 0) {
    EXPECT_NO_THROW(SY_GPU(cudaGetDeviceCount(&count)));
    EXPECT_EQ(count, probe.device_count);
  } else {
    const std::string what = thrown<ConfigError>([&] { SY_GPU(cudaGetDeviceCount(&count)); });
    EXPECT_NE(what.find("cudaGetDeviceCount(&count) failed: "), std::string::npos) << what;
    std::printf("without a device: %s\n", what.c_str());
  }
}

TEST(CudaHandles, EmptyBuffersAllocateNothing) {
  DeviceBuffer<float> empty(0);
  EXPECT_EQ(empty.data(), nullptr);
  DeviceBuffer<float> moved = std::move(empty);
  EXPECT_EQ(moved.size(), 0);
}

TEST(NcclTransport, HostMemoryIsNotDeviceMemory) {
  float host[4] = {};
  EXPECT_FALSE(is_device_pointer(host));
  EXPECT_FALSE(is_device_pointer(nullptr));
}

}  // namespace
}  // namespace sy
