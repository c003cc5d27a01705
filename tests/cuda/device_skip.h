// tests/cuda/device_skip.h — SKIP_WITHOUT_DEVICE(): GoogleTest skip with "no CUDA device: <reason>" on machines without a GPU.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "runtime/device.h"

namespace sy::test {

// Empty when the CUDA runtime sees a device, else why not (the runtime's error).
inline std::string no_device_reason() {
  const CudaProbe p = probe_cuda();
  return p.device_count > 0 ? "" : (p.error.empty() ? "0 devices" : p.error);
}

}  // namespace sy::test

#define SKIP_WITHOUT_DEVICE()                                                 \
  do {                                                                        \
    if (const std::string why = ::sy::test::no_device_reason(); !why.empty()) \
      GTEST_SKIP() << "no CUDA device: " << why;                              \
  } while (0)
