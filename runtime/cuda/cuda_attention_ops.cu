// runtime/cuda/cuda_attention_ops.cu — RoPE and causal attention kernels (one thread per row, online softmax).
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

__device__ __forceinline__ float dot_row(const float* a, const float* b, int64_t D) {
  float s = 0;
  for (int64_t d = 0; d < D; ++d) s += a[d] * b[d];
  return s;
}
template <class T>
__device__ __forceinline__ float dot_row(const T* a, const T* b, int64_t D) {
  float s = 0;
  for (int64_t d = 0; d < D; ++d) s += to_f(a[d]) * to_f(b[d]);
  return s;
}

// Thread (b, h, t): out_t = Σ_{s≤t} softmax(q_t·k_s/√D) v_s with a running max and sum.
template <class T>
__global__ void attention_forward_kernel(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale,
                                         const T* q, const T* k, const T* v, T* out, T* lse) {
  const int64_t G = Hq / Hkv;
  SY_GRID_STRIDE(idx, B * Hq * S) {
    const int64_t t = idx % S, h = idx / S % Hq, b = idx / (S * Hq), g = h / G;
    const T* qr = q + ((b * S + t) * Hq + h) * D;
    float acc[kMaxD];
    for (int64_t d = 0; d < D; ++d) acc[d] = 0.f;
    float m = -INFINITY, l = 0.f;
    for (int64_t s = 0; s <= t; ++s) {
      const int64_t kv = ((b * S + s) * Hkv + g) * D;
      const float score = dot_row(qr, k + kv, D) * scale;
      const float m_new = fmaxf(m, score);
      const float correction = expf(m - m_new);  // exp(−inf) = 0 on the first key
      const float p = expf(score - m_new);
      l = l * correction + p;
      for (int64_t d = 0; d < D; ++d) acc[d] = acc[d] * correction + p * to_f(v[kv + d]);
      m = m_new;
    }
    T* orow = out + ((b * S + t) * Hq + h) * D;
    for (int64_t d = 0; d < D; ++d) orow[d] = from_f<T>(acc[d] / l);
    lse[(b * Hq + h) * S + t] = from_f<T>(m + logf(l));
  }
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

// Thread (b, h, t): dq_t = Σ_{s≤t} P_ts (dout_t·v_s − δ_t) k_s / √D, P recomputed from lse.
template <class T>
__global__ void attention_dq_kernel(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale,
                                    const T* q, const T* k, const T* v, const T* lse, const float* delta,
                                    const T* dout, T* dq) {
  const int64_t G = Hq / Hkv;
  SY_GRID_STRIDE(idx, B * Hq * S) {
    const int64_t t = idx % S, h = idx / S % Hq, b = idx / (S * Hq), g = h / G;
    const int64_t row = ((b * S + t) * Hq + h) * D;
    const float row_lse = to_f(lse[idx]), row_delta = delta[idx];
    float acc[kMaxD];
    for (int64_t d = 0; d < D; ++d) acc[d] = 0.f;
    for (int64_t s = 0; s <= t; ++s) {
      const int64_t kv = ((b * S + s) * Hkv + g) * D;
      const float p = expf(dot_row(q + row, k + kv, D) * scale - row_lse);
      const float ds = p * (dot_row(dout + row, v + kv, D) - row_delta) * scale;
      for (int64_t d = 0; d < D; ++d) acc[d] += ds * to_f(k[kv + d]);
    }
    for (int64_t d = 0; d < D; ++d) dq[row + d] = from_f<T>(acc[d]);
  }
}

// Thread (b, g, s): over the query heads h of kv head g and the queries t ≥ s,
//   dk_s = Σ P_ts (dout_t·v_s − δ_t) q_t / √D,   dv_s = Σ P_ts dout_t.
template <class T>
__global__ void attention_dkdv_kernel(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, float scale,
                                      const T* q, const T* k, const T* v, const T* lse, const float* delta,
                                      const T* dout, T* dk, T* dv) {
  const int64_t G = Hq / Hkv;
  SY_GRID_STRIDE(idx, B * Hkv * S) {
    const int64_t s = idx % S, g = idx / S % Hkv, b = idx / (S * Hkv);
    const int64_t kv = ((b * S + s) * Hkv + g) * D;
    float acc_k[kMaxD], acc_v[kMaxD];
    for (int64_t d = 0; d < D; ++d) acc_k[d] = acc_v[d] = 0.f;
    for (int64_t h = g * G; h < (g + 1) * G; ++h)
      for (int64_t t = s; t < S; ++t) {
        const int64_t row = ((b * S + t) * Hq + h) * D;
        const int64_t stat = (b * Hq + h) * S + t;
        const float p = expf(dot_row(q + row, k + kv, D) * scale - to_f(lse[stat]));
        const float ds = p * (dot_row(dout + row, v + kv, D) - delta[stat]) * scale;
        for (int64_t d = 0; d < D; ++d) {
          acc_k[d] += ds * to_f(q[row + d]);
          acc_v[d] += p * to_f(dout[row + d]);
        }
      }
    for (int64_t d = 0; d < D; ++d) {
      dk[kv + d] = from_f<T>(acc_k[d]);
      dv[kv + d] = from_f<T>(acc_v[d]);
    }
  }
}

void check_shapes(int64_t Hq, int64_t Hkv, int64_t D) {
  SY_ASSERT(Hkv > 0 && Hq % Hkv == 0,
            "query heads " + std::to_string(Hq) + " not a multiple of kv heads " + std::to_string(Hkv));
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
  check_shapes(Hq, Hkv, D);
  if (B * S == 0) return;
  const float scale = float(1.0 / std::sqrt(double(D)));
  attention_forward_kernel<<<blocks_for(B * Hq * S), kThreads, 0, ctx_->s()>>>(B, S, Hq, Hkv, D, scale, q, k, v, out,
                                                                                 lse);
  SY_LAUNCHED();
}

template <class T>
void CudaAttentionOps<T>::attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q,
                                             const T* k, const T* v, const T* out, const T* lse, const T* dout,
                                             T* dq, T* dk, T* dv) const {
  check_shapes(Hq, Hkv, D);
  if (B * S == 0) return;
  const float scale = float(1.0 / std::sqrt(double(D)));
  DeviceBuffer<float> delta(B * Hq * S, ctx_->s());
  attention_delta_kernel<<<blocks_for(B * Hq * S), kThreads, 0, ctx_->s()>>>(B, S, Hq, D, out, dout, delta.data());
  SY_LAUNCHED();
  attention_dq_kernel<<<blocks_for(B * Hq * S), kThreads, 0, ctx_->s()>>>(B, S, Hq, Hkv, D, scale, q, k, v, lse,
                                                                           delta.data(), dout, dq);
  SY_LAUNCHED();
  attention_dkdv_kernel<<<blocks_for(B * Hkv * S), kThreads, 0, ctx_->s()>>>(B, S, Hq, Hkv, D, scale, q, k, v, lse,
                                                                              delta.data(), dout, dk, dv);
  SY_LAUNCHED();
}

template class CudaAttentionOps<float>;
template class CudaAttentionOps<bf16>;

}  // namespace sy
