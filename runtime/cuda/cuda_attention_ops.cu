// runtime/cuda/cuda_attention_ops.cu — RoPE and blocked causal attention kernels (warp per row, shared-memory tiles, online softmax).
#include <string>

#include "runtime/cuda/cuda_attention_ops.h"
#include "runtime/cuda/kernel_util.cuh"

namespace sy {

namespace {
using namespace kernels;
constexpr int kMaxD = 256;

// Rotates the pair (x_i, x_{i+D/2}) of every row of x[B, S, H, D] by sign·t·θ_i.  The
// angle is formed in double, as on the CPU: in float, t·θ_0 loses the phase's low bits.
template <class T>
__global__ void rope_kernel(int64_t B, int64_t S, int64_t H, int64_t D, double theta, double sign, T* x) {
  const int64_t half = D / 2;
  SY_GRID_STRIDE(j, B * S * H * half) {
    const int64_t i = j % half, row = j / half, t = row / H % S;
    const double angle = double(t) * pow(theta, -2.0 * double(i) / double(D));
    double s, c;
    sincos(angle, &s, &c);
    const float cf = float(c), sf = float(sign * s);
    T* lo = x + row * D;
    const float x1 = to_f(lo[i]), x2 = to_f(lo[i + half]);
    lo[i] = from_f<T>(x1 * cf - x2 * sf);
    lo[i + half] = from_f<T>(x2 * cf + x1 * sf);
  }
}

template <class T>
__device__ __forceinline__ float dot_row(const T* a, const T* b, int64_t D) {
  float s = 0;
  for (int64_t d = 0; d < D; ++d) s += to_f(a[d]) * to_f(b[d]);
  return s;
}

// The attention kernels are blocked: a block of kWarps warps works on kWarps
// consecutive rows (query rows forward and for dq, key rows for dk/dv) of one
// head; the rows of the other operand stream through shared memory kTile at a
// time, read once per block instead of once per row.  One warp per row: lane l
// holds elements l, l + 32, … of the row's vectors (kPer registers each), dot
// products are warp reductions in a fixed order (deterministic, no atomics).
constexpr int kWarps = 4, kTile = 16, kPer = kMaxD / 32;
static_assert(kMaxD % 32 == 0, "a row spreads evenly over a warp");

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Row `row` (length D) of storage into this lane's registers: out[j] = x[lane + 32 j], 0 past D.
template <class T>
__device__ __forceinline__ void load_row(const T* x, int64_t D, int lane, float (&out)[kPer]) {
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + 32 * j;
    out[j] = d < D ? to_f(x[d]) : 0.f;
  }
}

// Σ_d a[d]·tile_row[d] over the warp (a in registers, tile_row in shared memory).
__device__ __forceinline__ float warp_dot(const float (&a)[kPer], const float* tile_row, int64_t D, int lane) {
  float part = 0.f;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + 32 * j;
    if (d < D) part += a[j] * tile_row[d];
  }
  return warp_sum(part);
}

// acc[j] = acc[j]·keep + w·tile_row[lane + 32 j].
__device__ __forceinline__ void axpy_row(float (&acc)[kPer], float keep, float w, const float* tile_row, int64_t D,
                                         int lane) {
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + 32 * j;
    if (d < D) acc[j] = acc[j] * keep + w * tile_row[d];
  }
}

// Rows [s0, s0 + kTile) of head `head` of x[B, S, H, D] as float into tile (0 past S), by the whole block.
template <class T>
__device__ void load_tile(const T* x, int64_t b, int64_t S, int64_t H, int64_t head, int64_t D, int64_t s0,
                          float (*tile)[kMaxD]) {
  for (int64_t i = threadIdx.x; i < kTile * D; i += blockDim.x) {
    const int64_t r = i / D, d = i % D, s = s0 + r;
    tile[r][d] = s < S ? to_f(x[((b * S + s) * H + head) * D + d]) : 0.f;
  }
}

template <class T>
__device__ __forceinline__ void store_row(const float (&v)[kPer], float scale, int64_t D, int lane, T* out) {
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + 32 * j;
    if (d < D) out[d] = from_f<T>(v[j] * scale);
  }
}

// Block (t-block, h, b), warp w: query row t = kWarps·blockIdx.x + w of head h,
// out_t = Σ_{s≤t} softmax(q_t·k_s/√D) v_s with a running max and sum.
template <class T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_forward_kernel(int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale, const T* q, const T* k,
                             const T* v, T* out, T* lse) {
  __shared__ float ks[kTile][kMaxD], vs[kTile][kMaxD];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t b = blockIdx.z, h = blockIdx.y, g = h / (Hq / Hkv);
  const int64_t t_first = int64_t(blockIdx.x) * kWarps, t = t_first + warp;
  const bool live = t < S;  // the same for every lane of the warp
  float qr[kPer], acc[kPer];
  load_row(q + ((b * S + (live ? t : 0)) * Hq + h) * D, live ? D : 0, lane, qr);
#pragma unroll
  for (int j = 0; j < kPer; ++j) acc[j] = 0.f;
  float m = -INFINITY, l = 0.f;
  const int64_t t_last = (t_first + kWarps < S ? t_first + kWarps : S) - 1;  // the block needs keys 0..t_last
  for (int64_t s0 = 0; s0 <= t_last; s0 += kTile) {
    __syncthreads();  // every warp is done with the previous tile
    load_tile(k, b, S, Hkv, g, D, s0, ks);
    load_tile(v, b, S, Hkv, g, D, s0, vs);
    __syncthreads();
    if (!live) continue;
    const int64_t n = t - s0 + 1 < kTile ? t - s0 + 1 : kTile;  // keys s0..t of this tile (≤ 0: none)
    for (int64_t r = 0; r < n; ++r) {
      const float score = warp_dot(qr, ks[r], D, lane) * scale;
      const float m_new = fmaxf(m, score);
      const float correction = expf(m - m_new);  // exp(−inf) = 0 on the first key
      const float p = expf(score - m_new);
      l = l * correction + p;
      axpy_row(acc, correction, p, vs[r], D, lane);
      m = m_new;
    }
  }
  if (!live) return;
  store_row(acc, 1.f / l, D, lane, out + ((b * S + t) * Hq + h) * D);
  if (lane == 0) lse[(b * Hq + h) * S + t] = from_f<T>(m + logf(l));
}

// δ[b, h, t] = dout_t · out_t, laid out like lse.
template <class T>
__global__ void attention_delta_kernel(int64_t B, int64_t S, int64_t Hq, int64_t D, const T* out, const T* dout,
                                       float* delta) {
  SY_GRID_STRIDE(idx, B * Hq * S) {
    const int64_t t = idx % S, h = idx / S % Hq, b = idx / (S * Hq);
    const int64_t row = ((b * S + t) * Hq + h) * D;
    delta[idx] = dot_row(out + row, dout + row, D);
  }
}

// Warp per query row t of head h (as forward):
//   dq_t = Σ_{s≤t} P_ts (dout_t·v_s − δ_t) k_s / √D, P recomputed from lse.
template <class T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_dq_kernel(int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale, const T* q, const T* k,
                        const T* v, const T* lse, const float* delta, const T* dout, T* dq) {
  __shared__ float ks[kTile][kMaxD], vs[kTile][kMaxD];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t b = blockIdx.z, h = blockIdx.y, g = h / (Hq / Hkv);
  const int64_t t_first = int64_t(blockIdx.x) * kWarps, t = t_first + warp;
  const bool live = t < S;
  const int64_t row = ((b * S + (live ? t : 0)) * Hq + h) * D, stat = (b * Hq + h) * S + (live ? t : 0);
  float qr[kPer], dor[kPer], acc[kPer];
  load_row(q + row, live ? D : 0, lane, qr);
  load_row(dout + row, live ? D : 0, lane, dor);
#pragma unroll
  for (int j = 0; j < kPer; ++j) acc[j] = 0.f;
  const float row_lse = live ? to_f(lse[stat]) : 0.f, row_delta = live ? delta[stat] : 0.f;
  const int64_t t_last = (t_first + kWarps < S ? t_first + kWarps : S) - 1;
  for (int64_t s0 = 0; s0 <= t_last; s0 += kTile) {
    __syncthreads();
    load_tile(k, b, S, Hkv, g, D, s0, ks);
    load_tile(v, b, S, Hkv, g, D, s0, vs);
    __syncthreads();
    if (!live) continue;
    const int64_t n = t - s0 + 1 < kTile ? t - s0 + 1 : kTile;
    for (int64_t r = 0; r < n; ++r) {
      const float p = expf(warp_dot(qr, ks[r], D, lane) * scale - row_lse);
      const float ds = p * (warp_dot(dor, vs[r], D, lane) - row_delta) * scale;
      axpy_row(acc, 1.f, ds, ks[r], D, lane);
    }
  }
  if (live) store_row(acc, 1.f, D, lane, dq + row);
}

// Block (s-block, g, b), warp w: key row s = kWarps·blockIdx.x + w of kv head g.  Over the
// query heads h of g (in order) and the queries t ≥ s streamed through shared memory:
//   dk_s = Σ P_ts (dout_t·v_s − δ_t) q_t / √D,   dv_s = Σ P_ts dout_t.
template <class T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_dkdv_kernel(int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale, const T* q, const T* k,
                          const T* v, const T* lse, const float* delta, const T* dout, T* dk, T* dv) {
  __shared__ float qs[kTile][kMaxD], dos[kTile][kMaxD];
  __shared__ float lse_s[kTile], delta_s[kTile];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t b = blockIdx.z, g = blockIdx.y, G = Hq / Hkv;
  const int64_t s_first = int64_t(blockIdx.x) * kWarps, s = s_first + warp;
  const bool live = s < S;
  const int64_t kv = ((b * S + (live ? s : 0)) * Hkv + g) * D;
  float kr[kPer], vr[kPer], acc_k[kPer], acc_v[kPer];
  load_row(k + kv, live ? D : 0, lane, kr);
  load_row(v + kv, live ? D : 0, lane, vr);
#pragma unroll
  for (int j = 0; j < kPer; ++j) acc_k[j] = acc_v[j] = 0.f;
  for (int64_t h = g * G; h < (g + 1) * G; ++h)
    for (int64_t t0 = s_first; t0 < S; t0 += kTile) {  // queries before s_first see none of the block's keys
      __syncthreads();
      load_tile(q, b, S, Hq, h, D, t0, qs);
      load_tile(dout, b, S, Hq, h, D, t0, dos);
      for (int64_t r = threadIdx.x; r < kTile; r += blockDim.x) {
        const int64_t t = t0 + r;
        lse_s[r] = t < S ? to_f(lse[(b * Hq + h) * S + t]) : 0.f;
        delta_s[r] = t < S ? delta[(b * Hq + h) * S + t] : 0.f;
      }
      __syncthreads();
      if (!live) continue;
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t t = t0 + r;
        if (t < s || t >= S) continue;  // the same for every lane
        const float p = expf(warp_dot(kr, qs[r], D, lane) * scale - lse_s[r]);
        const float ds = p * (warp_dot(vr, dos[r], D, lane) - delta_s[r]) * scale;
        axpy_row(acc_k, 1.f, ds, qs[r], D, lane);
        axpy_row(acc_v, 1.f, p, dos[r], D, lane);
      }
    }
  if (!live) return;
  store_row(acc_k, 1.f, D, lane, dk + kv);
  store_row(acc_v, 1.f, D, lane, dv + kv);
}

// Launch shape of the blocked kernels: kWarps rows of one head per block.
dim3 row_blocks(int64_t B, int64_t S, int64_t heads) {
  return dim3(unsigned((S + kWarps - 1) / kWarps), unsigned(heads), unsigned(B));
}

void check_shapes(int64_t B, int64_t Hq, int64_t Hkv, int64_t D) {
  SY_ASSERT(Hkv > 0 && Hq % Hkv == 0,
            "query heads " + std::to_string(Hq) + " not a multiple of kv heads " + std::to_string(Hkv));
  SY_ASSERT(B <= 65535 && Hq <= 65535, "attention batch and heads are grid dimensions y and z (at most 65535)");
  if (D > kMaxD)
    throw ConfigError("head size model.d_model / model.n_heads = " + std::to_string(D) +
                      " exceeds the CUDA attention kernel's limit of " + std::to_string(kMaxD));
}

}  // namespace

template <class T>
void CudaAttentionOps<T>::rope_forward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* x) const {
  SY_ASSERT(D % 2 == 0, "rope needs an even head size, got " + std::to_string(D));
  if (B * S * H * D == 0) return;
  rope_kernel<<<blocks_for(B * S * H * D / 2), kThreads, 0, ctx_->s()>>>(B, S, H, D, theta, 1.0, x);
  SY_LAUNCHED();
}

template <class T>
void CudaAttentionOps<T>::rope_backward(int64_t B, int64_t S, int64_t H, int64_t D, double theta, T* dx) const {
  SY_ASSERT(D % 2 == 0, "rope needs an even head size, got " + std::to_string(D));
  if (B * S * H * D == 0) return;
  rope_kernel<<<blocks_for(B * S * H * D / 2), kThreads, 0, ctx_->s()>>>(B, S, H, D, theta, -1.0, dx);
  SY_LAUNCHED();
}

template <class T>
void CudaAttentionOps<T>::attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q,
                                            const T* k, const T* v, T* out, T* lse) const {
  check_shapes(B, Hq, Hkv, D);
  if (B * S == 0) return;
  const float scale = float(1.0 / std::sqrt(double(D)));
  attention_forward_kernel<<<row_blocks(B, S, Hq), kWarps * 32, 0, ctx_->s()>>>(S, Hq, Hkv, D, scale, q, k, v, out,
                                                                                  lse);
  SY_LAUNCHED();
}

template <class T>
void CudaAttentionOps<T>::attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q,
                                             const T* k, const T* v, const T* out, const T* lse, const T* dout,
                                             T* dq, T* dk, T* dv) const {
  check_shapes(B, Hq, Hkv, D);
  if (B * S == 0) return;
  const float scale = float(1.0 / std::sqrt(double(D)));
  DeviceBuffer<float> delta(B * Hq * S, ctx_->s());
  attention_delta_kernel<<<blocks_for(B * Hq * S), kThreads, 0, ctx_->s()>>>(B, S, Hq, D, out, dout, delta.data());
  SY_LAUNCHED();
  attention_dq_kernel<<<row_blocks(B, S, Hq), kWarps * 32, 0, ctx_->s()>>>(S, Hq, Hkv, D, scale, q, k, v, lse,
                                                                             delta.data(), dout, dq);
  SY_LAUNCHED();
  attention_dkdv_kernel<<<row_blocks(B, S, Hkv), kWarps * 32, 0, ctx_->s()>>>(S, Hq, Hkv, D, scale, q, k, v, lse,
                                                                                delta.data(), dout, dk, dv);
  SY_LAUNCHED();
}

template class CudaAttentionOps<float>;
template class CudaAttentionOps<bf16>;

}  // namespace sy
