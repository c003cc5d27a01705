// runtime/cuda/cuda_handles.h — RAII for CUDA and cuBLASLt handles: DeviceBuffer, CudaStream, CudaEvent, Lt descriptors.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/cuda/cuda_check.h"

namespace sy {

// unique_ptr deleter calling a C destroy function; its status is dropped (destructors cannot throw,
// and a failing destroy means the context is already lost).
template <auto destroy>
struct CDeleter {
  template <class P>
  void operator()(P p) const noexcept {
    (void)destroy(p);
  }
};
template <class Handle, auto destroy>
using CHandle = std::unique_ptr<std::remove_pointer_t<Handle>, CDeleter<destroy>>;

using CudaStream = CHandle<cudaStream_t, cudaStreamDestroy>;
using CudaEvent = CHandle<cudaEvent_t, cudaEventDestroy>;
using LtHandle = CHandle<cublasLtHandle_t, cublasLtDestroy>;
using LtMatmulDesc = CHandle<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LtMatrixLayout = CHandle<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using LtPreference = CHandle<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

inline CudaStream make_stream() {
  cudaStream_t s = nullptr;
  SY_GPU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return CudaStream(s);
}
// Events for ordering and completion tests; `timing` adds cudaEventElapsedTime support.
inline CudaEvent make_event(bool timing = false) {
  cudaEvent_t e = nullptr;
  SY_GPU(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  return CudaEvent(e);
}

// n elements of T in device memory.  With a stream, allocation and release are
// stream-ordered (cudaMallocAsync): the scratch of a kernel sequence is freed
// only after the kernels queued before the release have run.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t n, cudaStream_t stream = nullptr) : n_(n), stream_(stream) {
    if (n == 0) return;
    void* p = nullptr;
    if (stream)
      SY_GPU(cudaMallocAsync(&p, sizeof(T) * n, stream));
    else
      SY_GPU(cudaMalloc(&p, sizeof(T) * n));
    data_ = static_cast<T*>(p);
  }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), n_(std::exchange(o.n_, 0)), stream_(o.stream_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      n_ = std::exchange(o.n_, 0);
      stream_ = o.stream_;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return n_; }

  // Blocking copies for set-up, tests and host results.  They synchronise the whole
  // device (or the buffer's stream): work on non-blocking streams does not order
  // itself after cudaMemcpy, and a pageable upload may return before its DMA ends.
  void upload(const T* host, int64_t n) {
    SY_ASSERT(n <= n_, "upload larger than the buffer");
    SY_GPU(cudaMemcpy(data_, host, sizeof(T) * n, cudaMemcpyHostToDevice));
    SY_GPU(cudaDeviceSynchronize());
  }
  std::vector<T> download(int64_t n = -1) const {
    std::vector<T> out(n < 0 ? n_ : n);
    SY_ASSERT(int64_t(out.size()) <= n_, "download larger than the buffer");
    if (stream_)
      SY_GPU(cudaStreamSynchronize(stream_));
    else
      SY_GPU(cudaDeviceSynchronize());
    SY_GPU(cudaMemcpy(out.data(), data_, sizeof(T) * out.size(), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  void release() noexcept {
    if (!data_) return;
    if (stream_)
      (void)cudaFreeAsync(data_, stream_);
    else
      (void)cudaFree(data_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  int64_t n_ = 0;
  cudaStream_t stream_ = nullptr;
};

// One prepared cuBLASLt GEMM: descriptor, the three matrix layouts (first
// operand, second operand, C) and the algorithm the heuristic chose for them.
struct LtPlan {
  LtMatmulDesc desc;
  LtMatrixLayout first, second, out;
  cublasLtMatmulAlgo_t algo{};
};

// What every op group of one rank shares: its device, its compute stream, the
// cuBLASLt handle and the GEMM workspace.  Ops are asynchronous on `stream`
// except those that return a host value (sum_squares, cross_entropy, router_statistics).
struct CudaContext {
  int device = 0;
  CudaStream stream;
  LtHandle lt;
  DeviceBuffer<std::byte> workspace;

  // cudaSetDevice(device), then a stream, a cuBLASLt handle and `workspace_bytes` of workspace.
  static std::shared_ptr<CudaContext> create(int device, int64_t workspace_bytes = int64_t(32) << 20);
  cudaStream_t s() const { return stream.get(); }
};

}  // namespace sy
