// runtime/cuda/kernel_util.cuh — what every kernel file shares: float ↔ storage conversion, launch shapes, block reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "runtime/cuda/cuda_check.h"

namespace sy::kernels {

// Storage is float or bf16; arithmetic is float everywhere (bf16 only as storage).
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}
template <class T>
__host__ __forceinline__ float host_to_f(T x) {
  return static_cast<float>(x);
}

// 256 threads per block; blocks for n elements with grid-stride loops taking any excess.
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, int64_t(1) << 20));
}
#define SY_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// Checks the launch that just happened (bad configuration, no kernel image for this GPU).
#define SY_LAUNCHED() SY_GPU(cudaGetLastError())

// Launches `kernel` over n elements on the op group's stream (member ctx_), skipping n = 0.
#define SY_LAUNCH(kernel, n, ...)                                     \
  do {                                                                \
    if ((n) > 0) {                                                    \
      kernel<<<blocks_for(n), kThreads, 0, ctx_->s()>>>(__VA_ARGS__); \
      SY_LAUNCHED();                                                  \
    }                                                                 \
  } while (0)

struct Sum {
  template <class A>
  __device__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct Max {
  template <class A>
  __device__ A operator()(A a, A b) const {
    return a > b ? a : b;
  }
};

// Reduces v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// Safe to call repeatedly in one kernel: the leading barrier keeps the next call from
// overwriting the slot a slow thread is still reading.
template <class A, class Op>
__device__ A block_reduce(A v, Op op, A identity) {
  __shared__ A partial[32];
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x >> 5) ? partial[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}
template <class A>
__device__ A block_sum(A v) {
  return block_reduce(v, Sum{}, A(0));
}
__device__ inline float block_max(float v) { return block_reduce(v, Max{}, -INFINITY); }

}  // namespace sy::kernels

namespace sy::kernels {

// Scatter-add into storage: float atomics, or bf16 atomics (native on sm_80 and newer).
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(__nv_bfloat16* p, float v) { atomicAdd(p, __float2bfloat16(v)); }

}  // namespace sy::kernels
