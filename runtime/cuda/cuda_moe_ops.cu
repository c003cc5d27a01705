// runtime/cuda/cuda_moe_ops.cu — router kernels (softmax, top-k, statistics, backward, jitter) and row gather/scatter/combine.
#include "runtime/cuda/cuda_moe_ops.h"
#include "runtime/cuda/kernel_util.cuh"

namespace sy {

namespace {
using namespace kernels;

template <class T>
__global__ void router_softmax_kernel(int64_t N, int64_t E, const T* logits, T* probs, T* lse) {
  SY_GRID_STRIDE(n, N) {
    const T* r = logits + n * E;
    T* p = probs + n * E;
    float mx = to_f(r[0]);
    for (int64_t e = 1; e < E; ++e) mx = fmaxf(mx, to_f(r[e]));
    float sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += expf(to_f(r[e]) - mx);
    const float inv = 1.f / sum;
    for (int64_t e = 0; e < E; ++e) p[e] = from_f<T>(expf(to_f(r[e]) - mx) * inv);
    if (lse) lse[n] = from_f<T>(mx + logf(sum));
  }
}

// The k best scores select[e] + bias[e] in descending order; scanning upwards with a
// strict '>' keeps the lower index on a tie (as CpuMoeOps).  "Taken" is looked up in
// the experts already written for this token, so no per-thread E-sized state.
template <class T>
__global__ void router_topk_kernel(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias,
                                   bool normalize, int32_t* expert, T* gate) {
  SY_GRID_STRIDE(n, N) {
    const T* s = select + n * E;
    const T* p = probs + n * E;
    int32_t* ex = expert + n * k;
    float sum = 0;
    for (int j = 0; j < k; ++j) {
      int64_t best = -1;
      float best_score = 0;
      for (int64_t e = 0; e < E; ++e) {
        bool taken = false;
        for (int i = 0; i < j; ++i) taken |= ex[i] == e;
        if (taken) continue;
        const float score = to_f(s[e]) + (bias ? to_f(bias[e]) : 0.f);
        if (best < 0 || score > best_score) best = e, best_score = score;
      }
      ex[j] = static_cast<int32_t>(best);
      sum += to_f(p[best]);
    }
    for (int j = 0; j < k; ++j) {
      const float g = to_f(p[ex[j]]);
      gate[n * k + j] = from_f<T>(normalize ? g / sum : g);
    }
  }
}

// prob_sum[e] = Σ_n probs[n, e]: one thread per expert, in double.
template <class T>
__global__ void prob_sum_kernel(int64_t N, int64_t E, const T* probs, double* prob_sum) {
  SY_GRID_STRIDE(e, E) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += to_f(probs[n * E + e]);
    prob_sum[e] = s;
  }
}

// sums[0] += Σ_n lse², sums[1] += Σ_n −Σ_e p log p (double; one atomic per block).
template <class T>
__global__ void lse_entropy_kernel(int64_t N, int64_t E, const T* probs, const T* lse, double* sums) {
  double z = 0, h = 0;
  SY_GRID_STRIDE(n, N) {
    const double l = to_f(lse[n]);
    z += l * l;
    for (int64_t e = 0; e < E; ++e) {
      const double pe = to_f(probs[n * E + e]);
      if (pe > 0) h -= pe * log(pe);
    }
  }
  z = block_sum(z);
  h = block_sum(h);
  if (threadIdx.x == 0) {
    atomicAdd(sums, z);
    atomicAdd(sums + 1, h);
  }
}

// dlogits row n doubles as the ∂L/∂p scratch before the softmax backward overwrites it.
template <class T>
__global__ void router_backward_kernel(int64_t N, int64_t E, int k, const T* probs, const T* lse,
                                       const int32_t* expert, const T* dgate, bool normalize, const T* aux_dprob,
                                       float z_scale, T* dlogits) {
  SY_GRID_STRIDE(n, N) {
    const T* p = probs + n * E;
    const int32_t* ex = expert + n * k;
    const T* dg = dgate + n * k;
    T* dr = dlogits + n * E;
    // dr[e] = ∂L/∂p_e: the aux term, then each chosen expert's gate term (stored as T).
    for (int64_t e = 0; e < E; ++e) dr[e] = from_f<T>(aux_dprob ? to_f(aux_dprob[e]) : 0.f);
    float S = 0, dot = 0;
    if (normalize) {
      for (int j = 0; j < k; ++j) S += to_f(p[ex[j]]);
      for (int j = 0; j < k; ++j) dot += to_f(dg[j]) * to_f(p[ex[j]]) / S;
    }
    for (int j = 0; j < k; ++j) {
      const float add = normalize ? (to_f(dg[j]) - dot) / S : to_f(dg[j]);
      dr[ex[j]] = from_f<T>(to_f(dr[ex[j]]) + add);
    }
    float s = 0;
    for (int64_t e = 0; e < E; ++e) s += to_f(p[e]) * to_f(dr[e]);
    const float zc = 2.f * z_scale * to_f(lse[n]);
    for (int64_t e = 0; e < E; ++e) dr[e] = from_f<T>(to_f(p[e]) * (to_f(dr[e]) - s + zc));
  }
}

template <class T>
__global__ void jitter_kernel(int64_t n, const T* x, const T* mult, T* out) {
  SY_GRID_STRIDE(i, n) out[i] = from_f<T>(to_f(x[i]) * to_f(mult[i]));
}

template <class T>
__global__ void gather_rows_kernel(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) {
  SY_GRID_STRIDE(i, M * d) dst[i] = src[int64_t(index[i / d]) * d + i % d];
}

template <class T>
__global__ void scatter_add_rows_kernel(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) {
  SY_GRID_STRIDE(i, M * d) atomic_add(dst + int64_t(index[i / d]) * d + i % d, to_f(src[i]));
}

template <class T>
__global__ void combine_rows_kernel(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                    const T* gate, const T* rows, T* y) {
  SY_GRID_STRIDE(i, M * d) {
    const int64_t r = i / d;
    atomic_add(y + int64_t(token[r]) * d + i % d, to_f(gate[gate_index[r]]) * to_f(rows[i]));
  }
}

// One block per routed row: drows = g·dy[token], dgate = dy[token]·rows.
template <class T>
__global__ void combine_rows_backward_kernel(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                             const T* gate, const T* rows, const T* dy, T* drows, T* dgate) {
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const float g = to_f(gate[gate_index[r]]);
    const T* o = dy + int64_t(token[r]) * d;
    float dot = 0;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
      dot += to_f(o[c]) * to_f(rows[r * d + c]);
      drows[r * d + c] = from_f<T>(g * to_f(o[c]));
    }
    dot = block_sum(dot);
    if (threadIdx.x == 0) dgate[gate_index[r]] = from_f<T>(dot);
  }
}

}  // namespace


template <class T>
void CudaMoeOps<T>::router_softmax(int64_t N, int64_t E, const T* logits, T* probs, T* lse) const {
  SY_LAUNCH(router_softmax_kernel, N, N, E, logits, probs, lse);
}

template <class T>
void CudaMoeOps<T>::router_topk(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias,
                                bool normalize, int32_t* expert, T* gate) const {
  SY_ASSERT(k >= 1 && k <= E, "router_topk: k = " + std::to_string(k) + " outside [1, " + std::to_string(E) + "]");
  SY_LAUNCH(router_topk_kernel, N, N, E, k, probs, select, bias, normalize, expert, gate);
}

template <class T>
void CudaMoeOps<T>::router_statistics(int64_t N, int64_t E, const T* probs, const T* lse, double* prob_sum,
                                      double* lse_sq_sum, double* entropy_sum) const {
  DeviceBuffer<double> sums(E + 2, ctx_->s());
  SY_GPU(cudaMemsetAsync(sums.data(), 0, sizeof(double) * (E + 2), ctx_->s()));
  SY_LAUNCH(prob_sum_kernel, E, N, E, probs, sums.data());
  if (N > 0) {
    lse_entropy_kernel<<<std::min(blocks_for(N), 256u), kThreads, 0, ctx_->s()>>>(N, E, probs, lse, sums.data() + E);
    SY_LAUNCHED();
  }
  const std::vector<double> host = sums.download();
  for (int64_t e = 0; e < E; ++e) prob_sum[e] = host[e];
  *lse_sq_sum = host[E];
  *entropy_sum = host[E + 1];
}

template <class T>
void CudaMoeOps<T>::router_backward(int64_t N, int64_t E, int k, const T* probs, const T* lse, const int32_t* expert,
                                    const T* dgate, bool normalize, const T* aux_dprob, T z_scale,
                                    T* dlogits) const {
  SY_LAUNCH(router_backward_kernel, N, N, E, k, probs, lse, expert, dgate, normalize, aux_dprob, host_to_f(z_scale),
            dlogits);
}

template <class T>
void CudaMoeOps<T>::router_jitter(int64_t n, const T* x, const T* mult, T* out) const {
  SY_LAUNCH(jitter_kernel, n, n, x, mult, out);
}

template <class T>
void CudaMoeOps<T>::gather_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const {
  SY_LAUNCH(gather_rows_kernel, M * d, M, d, index, src, dst);
}

template <class T>
void CudaMoeOps<T>::scatter_add_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const {
  SY_LAUNCH(scatter_add_rows_kernel, M * d, M, d, index, src, dst);
}

template <class T>
void CudaMoeOps<T>::combine_rows(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                                 const T* rows, T* y) const {
  SY_LAUNCH(combine_rows_kernel, M * d, M, d, token, gate_index, gate, rows, y);
}

template <class T>
void CudaMoeOps<T>::combine_rows_backward(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                          const T* gate, const T* rows, const T* dy, T* drows, T* dgate) const {
  if (M == 0) return;
  combine_rows_backward_kernel<<<static_cast<unsigned>(std::min<int64_t>(M, 65535)), kThreads, 0, ctx_->s()>>>(
      M, d, token, gate_index, gate, rows, dy, drows, dgate);
  SY_LAUNCHED();
}

template class CudaMoeOps<float>;
template class CudaMoeOps<bf16>;

}  // namespace sy
