// runtime/cuda/cuda_check.h — SY_GPU(call): the one checker of CUDA runtime, cuBLASLt and NCCL status codes.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <source_location>
#include <string>

#include "runtime/error.h"

namespace sy {

// A failed CUDA or cuBLASLt call at run time.  Exit code 5 like a lost rank: a
// device that faults (Xid, ECC, launch failure) takes its rank out of the job,
// and the response — stop every rank, restart from the last checkpoint — is the same.
struct DeviceError : Error {
  explicit DeviceError(const std::string& what) : Error(ExitCode::comm, what) {}
};

// "<call> failed: <error name>: <error text> (file:line, rank R on HOST)".
std::string gpu_failure_message(const char* call, const std::string& error, std::source_location where);

// Success returns.  Otherwise throws:
//   CUDA runtime: ConfigError when no usable device/driver is present (exit 2, as for
//                 train.device = cuda on such a machine), DeviceError otherwise;
//   cuBLASLt:     DeviceError;
//   NCCL:         CommError (exit 5), with ncclGetLastError's detail when NCCL has one.
void gpu_check(cudaError_t rc, const char* call, std::source_location where = std::source_location::current());
void gpu_check(cublasStatus_t rc, const char* call, std::source_location where = std::source_location::current());
void gpu_check(ncclResult_t rc, const char* call, std::source_location where = std::source_location::current());

}  // namespace sy

// Checks a CUDA / cuBLASLt / NCCL call and names it by its text: SY_GPU(cudaMalloc(&p, bytes));
#define SY_GPU(call) ::sy::gpu_check((call), #call)
