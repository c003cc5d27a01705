// runtime/cuda/cuda_nn_ops.cu — kernels for embeddings, positions, LayerNorm/RMSNorm, GELU/ReLU/SwiGLU, cross-entropy.
#include <string>

#include "runtime/cuda/cuda_nn_ops.h"
#include "runtime/cuda/kernel_util.cuh"

namespace sy {

namespace {
using namespace kernels;

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// Rows of a norm or a softmax: one block each, blocks striding over rows.
inline unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(std::clamp<int64_t>(rows, 1, 65535)); }
#define SY_ROW_STRIDE(n, N) for (int64_t n = blockIdx.x; n < (N); n += gridDim.x)

// ---- embeddings and positions ------------------------------------------------

template <class T>
__global__ void embedding_forward_kernel(int64_t N, int64_t d, const int32_t* ids, const T* table, float scale,
                                         T* out) {
  SY_GRID_STRIDE(i, N * d) out[i] = from_f<T>(scale * to_f(table[int64_t(ids[i / d]) * d + i % d]));
}

template <class T>
__global__ void embedding_backward_kernel(int64_t N, int64_t d, const int32_t* ids, const T* dout, float scale,
                                          T* dtable) {
  SY_GRID_STRIDE(i, N * d) atomic_add(dtable + int64_t(ids[i / d]) * d + i % d, scale * to_f(dout[i]));
}

template <class T>
__global__ void add_positions_kernel(int64_t B, int64_t T_, int64_t d, const T* table, int64_t offset, T* h) {
  SY_GRID_STRIDE(i, B * T_ * d) {
    const int64_t t = i / d % T_, c = i % d;
    h[i] = from_f<T>(to_f(h[i]) + to_f(table[(t + offset) * d + c]));
  }
}

template <class T>
__global__ void positions_backward_kernel(int64_t B, int64_t T_, int64_t d, const T* dh, int64_t offset,
                                          T* dtable) {
  SY_GRID_STRIDE(i, T_ * d) {
    const int64_t t = i / d, c = i % d;
    float s = 0;
    for (int64_t b = 0; b < B; ++b) s += to_f(dh[(b * T_ + t) * d + c]);
    T& row = dtable[(t + offset) * d + c];
    row = from_f<T>(to_f(row) + s);
  }
}

// ---- norms ---------------------------------------------------------------------
// Forward: one block per row, two passes for the variance (as the CPU backend).
// Backward: the parameter-gradient kernel runs first, because the dx kernel may
// overwrite dy in place; in the dx kernel each thread reads dy[i] before it writes dx[i].

template <class T>
__global__ void layernorm_forward_kernel(int64_t N, int64_t d, const T* x, const T* w, const T* b, float eps, T* y,
                                         T* mean, T* rstd) {
  SY_ROW_STRIDE(n, N) {
    const T* xr = x + n * d;
    float s = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += to_f(xr[i]);
    const float mu = block_sum(s) / float(d);
    float v = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) v += (to_f(xr[i]) - mu) * (to_f(xr[i]) - mu);
    const float r = rsqrtf(block_sum(v) / float(d) + eps);
    if (threadIdx.x == 0) {
      mean[n] = from_f<T>(mu);
      rstd[n] = from_f<T>(r);
    }
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
      y[n * d + i] = from_f<T>((to_f(xr[i]) - mu) * r * to_f(w[i]) + to_f(b[i]));
  }
}

// dw[c] += Σ_n dy·x̂ and db[c] += Σ_n dy; x̂ = (x − mean)·rstd.  (rmsnorm: mean = null, db = null.)
template <class T>
__global__ void norm_param_grad_kernel(int64_t N, int64_t d, const T* x, const T* mean, const T* rstd, const T* dy,
                                       T* dw, T* db) {
  SY_GRID_STRIDE(c, d) {
    float sw = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float g = to_f(dy[n * d + c]);
      const float xhat = (to_f(x[n * d + c]) - (mean ? to_f(mean[n]) : 0.f)) * to_f(rstd[n]);
      sw += g * xhat;
      sb += g;
    }
    dw[c] = from_f<T>(to_f(dw[c]) + sw);
    if (db) db[c] = from_f<T>(to_f(db[c]) + sb);
  }
}

// dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = dy ⊙ w.
template <class T>
__global__ void layernorm_dx_kernel(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd,
                                    const T* dy, T* dx) {
  SY_ROW_STRIDE(n, N) {
    const float m = to_f(mean[n]), r = to_f(rstd[n]);
    float sg = 0, sgx = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      const float g = to_f(dy[n * d + i]) * to_f(w[i]);
      sg += g;
      sgx += g * (to_f(x[n * d + i]) - m) * r;
    }
    const float gm = block_sum(sg) / float(d);
    const float gxm = block_sum(sgx) / float(d);
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      const float g = to_f(dy[n * d + i]) * to_f(w[i]);
      dx[n * d + i] = from_f<T>(r * (g - gm - (to_f(x[n * d + i]) - m) * r * gxm));
    }
  }
}

template <class T>
__global__ void rmsnorm_forward_kernel(int64_t N, int64_t d, const T* x, const T* w, float eps, T* y, T* rstd) {
  SY_ROW_STRIDE(n, N) {
    const T* xr = x + n * d;
    float s = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += to_f(xr[i]) * to_f(xr[i]);
    const float r = rsqrtf(block_sum(s) / float(d) + eps);
    if (threadIdx.x == 0) rstd[n] = from_f<T>(r);
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) y[n * d + i] = from_f<T>(to_f(xr[i]) * r * to_f(w[i]));
  }
}

// dx = r·g − x · r³ · mean(g ⊙ x), g = dy ⊙ w.
template <class T>
__global__ void rmsnorm_dx_kernel(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx) {
  SY_ROW_STRIDE(n, N) {
    const float r = to_f(rstd[n]);
    float s = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += to_f(dy[n * d + i]) * to_f(w[i]) * to_f(x[n * d + i]);
    const float c = block_sum(s) / float(d) * r * r * r;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
      dx[n * d + i] = from_f<T>(r * to_f(dy[n * d + i]) * to_f(w[i]) - to_f(x[n * d + i]) * c);
  }
}

// ---- activations -----------------------------------------------------------------

template <class T>
__global__ void gelu_forward_kernel(int64_t n, const T* x, T* y) {
  SY_GRID_STRIDE(i, n) {
    const float v = to_f(x[i]);
    y[i] = from_f<T>(0.5f * v * (1.f + erff(v * kInvSqrt2)));
  }
}

template <class T>
__global__ void gelu_backward_kernel(int64_t n, const T* x, const T* dy, T* dx) {
  SY_GRID_STRIDE(i, n) {
    const float v = to_f(x[i]);
    const float cdf = 0.5f * (1.f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dx[i] = from_f<T>(to_f(dy[i]) * (cdf + v * pdf));
  }
}

template <class T>
__global__ void relu_forward_kernel(int64_t n, const T* x, T* y) {
  SY_GRID_STRIDE(i, n) y[i] = from_f<T>(to_f(x[i]) > 0.f ? to_f(x[i]) : 0.f);
}

template <class T>
__global__ void relu_backward_kernel(int64_t n, const T* x, const T* dy, T* dx) {
  SY_GRID_STRIDE(i, n) dx[i] = from_f<T>(to_f(x[i]) > 0.f ? to_f(dy[i]) : 0.f);
}

template <class T>
__global__ void swiglu_forward_kernel(int64_t n, const T* gate, const T* up, T* y) {
  SY_GRID_STRIDE(i, n) {
    const float g = to_f(gate[i]);
    y[i] = from_f<T>(g / (1.f + expf(-g)) * to_f(up[i]));
  }
}

// Reads gate[i], up[i], dy[i] before writing: dgate may alias gate, dup may alias up.
template <class T>
__global__ void swiglu_backward_kernel(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) {
  SY_GRID_STRIDE(i, n) {
    const float g = to_f(gate[i]), u = to_f(up[i]), d = to_f(dy[i]);
    const float sig = 1.f / (1.f + expf(-g));
    dup[i] = from_f<T>(d * g * sig);
    dgate[i] = from_f<T>(d * u * sig * (1.f + g * (1.f - sig)));
  }
}

// ---- cross-entropy -------------------------------------------------------------------
// One block per row.  z[target] is read by every thread before the first reduction's
// barrier, so an in-place dlogits (= logits) cannot overwrite it first.  A target
// outside [0, V) marks the row in *bad_row (the host reports it).
template <class T>
__global__ void cross_entropy_kernel(int64_t N, int64_t V, const T* logits, const int32_t* targets, float grad_scale,
                                     T* dlogits, float* row_loss, int64_t* bad_row) {
  SY_ROW_STRIDE(n, N) {
    const T* z = logits + n * V;
    const int64_t t = targets[n];
    if (t < 0 || t >= V) {
      if (threadIdx.x == 0) atomicMin(reinterpret_cast<unsigned long long*>(bad_row), (unsigned long long)n);
      continue;  // uniform over the block: every thread skips the row
    }
    const float z_target = to_f(z[t]);
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, to_f(z[j]));
    mx = block_max(mx);
    float s = 0;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) s += expf(to_f(z[j]) - mx);
    const float sum = block_sum(s);
    if (threadIdx.x == 0) row_loss[n] = mx + logf(sum) - z_target;
    if (dlogits) {
      const float factor = grad_scale / sum;
      T* g = dlogits + n * V;
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x)
        g[j] = from_f<T>(expf(to_f(z[j]) - mx) * factor - (j == t ? grad_scale : 0.f));
    }
  }
}

}  // namespace

#define SY_LAUNCH_ROWS(kernel, rows, ...)                                          \
  do {                                                                             \
    if ((rows) > 0) {                                                              \
      kernel<<<row_blocks(rows), kThreads, 0, ctx_->s()>>>(__VA_ARGS__);           \
      SY_LAUNCHED();                                                               \
    }                                                                              \
  } while (0)

template <class T>
void CudaNnOps<T>::embedding_forward(int64_t N, int64_t d, const int32_t* ids, const T* table, T scale,
                                     T* out) const {
  SY_LAUNCH(embedding_forward_kernel, N * d, N, d, ids, table, host_to_f(scale), out);
}

template <class T>
void CudaNnOps<T>::embedding_backward(int64_t N, int64_t d, const int32_t* ids, const T* dout, T scale,
                                      T* dtable) const {
  SY_LAUNCH(embedding_backward_kernel, N * d, N, d, ids, dout, host_to_f(scale), dtable);
}

template <class T>
void CudaNnOps<T>::add_positions(int64_t B, int64_t T_, int64_t d, const T* table, int64_t offset, T* h) const {
  SY_LAUNCH(add_positions_kernel, B * T_ * d, B, T_, d, table, offset, h);
}

template <class T>
void CudaNnOps<T>::positions_backward(int64_t B, int64_t T_, int64_t d, const T* dh, int64_t offset,
                                      T* dtable) const {
  SY_LAUNCH(positions_backward_kernel, T_ * d, B, T_, d, dh, offset, dtable);
}

template <class T>
void CudaNnOps<T>::layernorm_forward(int64_t N, int64_t d, const T* x, const T* w, const T* b, double eps, T* y,
                                     T* mean, T* rstd) const {
  SY_LAUNCH_ROWS(layernorm_forward_kernel, N, N, d, x, w, b, float(eps), y, mean, rstd);
}

template <class T>
void CudaNnOps<T>::layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd,
                                      const T* dy, T* dx, T* dw, T* db) const {
  SY_LAUNCH(norm_param_grad_kernel, d, N, d, x, mean, rstd, dy, dw, db);  // before dx: dx may overwrite dy
  SY_LAUNCH_ROWS(layernorm_dx_kernel, N, N, d, x, w, mean, rstd, dy, dx);
}

template <class T>
void CudaNnOps<T>::rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const {
  SY_LAUNCH_ROWS(rmsnorm_forward_kernel, N, N, d, x, w, float(eps), y, rstd);
}

template <class T>
void CudaNnOps<T>::rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                                    T* dw) const {
  SY_LAUNCH(norm_param_grad_kernel, d, N, d, x, static_cast<const T*>(nullptr), rstd, dy, dw, static_cast<T*>(nullptr));
  SY_LAUNCH_ROWS(rmsnorm_dx_kernel, N, N, d, x, w, rstd, dy, dx);
}

template <class T>
void CudaNnOps<T>::gelu_forward(int64_t n, const T* x, T* y) const {
  SY_LAUNCH(gelu_forward_kernel, n, n, x, y);
}
template <class T>
void CudaNnOps<T>::gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  SY_LAUNCH(gelu_backward_kernel, n, n, x, dy, dx);
}
template <class T>
void CudaNnOps<T>::relu_forward(int64_t n, const T* x, T* y) const {
  SY_LAUNCH(relu_forward_kernel, n, n, x, y);
}
template <class T>
void CudaNnOps<T>::relu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  SY_LAUNCH(relu_backward_kernel, n, n, x, dy, dx);
}
template <class T>
void CudaNnOps<T>::swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const {
  SY_LAUNCH(swiglu_forward_kernel, n, n, gate, up, y);
}
template <class T>
void CudaNnOps<T>::swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const {
  SY_LAUNCH(swiglu_backward_kernel, n, n, gate, up, dy, dgate, dup);
}

template <class T>
double CudaNnOps<T>::cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                                   T* dlogits) const {
  if (N == 0) return 0;
  DeviceBuffer<float> row_loss(N, ctx_->s());
  DeviceBuffer<int64_t> bad_row(1, ctx_->s());
  const int64_t none = INT64_MAX;
  SY_GPU(cudaMemcpyAsync(bad_row.data(), &none, sizeof none, cudaMemcpyHostToDevice, ctx_->s()));
  SY_LAUNCH_ROWS(cross_entropy_kernel, N, N, V, logits, targets, host_to_f(grad_scale), dlogits, row_loss.data(),
                 bad_row.data());
  const std::vector<float> losses = row_loss.download();
  const int64_t bad = bad_row.download()[0];
  SY_ASSERT(bad == INT64_MAX, "cross_entropy: the target of row " + std::to_string(bad) + " is outside [0, " +
                                  std::to_string(V) + ")");
  double total = 0;
  for (float l : losses) total += l;
  return total;
}

template class CudaNnOps<float>;
template class CudaNnOps<bf16>;

}  // namespace sy
