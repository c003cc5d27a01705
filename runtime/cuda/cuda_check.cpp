// runtime/cuda/cuda_check.cpp — status codes of CUDA, cuBLASLt and NCCL to the project's typed errors.
#include "runtime/cuda/cuda_check.h"

#include <sstream>

#include "comm/mpi_check.h"

namespace sy {

std::string gpu_failure_message(const char* call, const std::string& error, std::source_location where) {
  std::ostringstream os;
  os << call << " failed: " << error << " (" << where.file_name() << ":" << where.line() << ", " << mpi_where()
     << ")";
  return os.str();
}

void gpu_check(cudaError_t rc, const char* call, std::source_location where) {
  if (rc == cudaSuccess) return;
  // Reading the error clears it unless it is sticky (then the context is lost anyway).
  cudaGetLastError();
  const std::string message =
      gpu_failure_message(call, std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc), where);
  if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver || rc == cudaErrorInvalidDevice)
    throw ConfigError(message);
  throw DeviceError(message);
}

void gpu_check(cublasStatus_t rc, const char* call, std::source_location where) {
  if (rc == CUBLAS_STATUS_SUCCESS) return;
  throw DeviceError(
      gpu_failure_message(call, std::string(cublasLtGetStatusName(rc)) + ": " + cublasLtGetStatusString(rc), where));
}

void gpu_check(ncclResult_t rc, const char* call, std::source_location where) {
  if (rc == ncclSuccess) return;
  std::string error = ncclGetErrorString(rc);
  // The last error of any communicator on this thread; often says which peer or socket failed.
  if (const char* detail = ncclGetLastError(nullptr); detail && *detail) error += std::string(" — ") + detail;
  throw CommError(gpu_failure_message(call, error, where));
}

}  // namespace sy
