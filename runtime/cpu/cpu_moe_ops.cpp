// runtime/cpu/cpu_moe_ops.cpp — router kernels (softmax, top-k, statistics, backward) and row permutation kernels.
#include "runtime/cpu/cpu_moe_ops.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <vector>

namespace sy {

namespace {
// Per-thread scratch of E values, grown on first use: the router kernels run every
// layer of every step and must not allocate in steady state.
template <class V>
V* scratch(int64_t n) {
  thread_local std::vector<V> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}
}  // namespace

template <class T>
void CpuMoeOps<T>::router_softmax(int64_t N, int64_t E, const T* logits, T* probs, T* lse) const {
  for (int64_t n = 0; n < N; ++n) {
    const T* r = logits + n * E;
    T* p = probs + n * E;
    T mx = r[0];
    for (int64_t e = 1; e < E; ++e) mx = r[e] > mx ? r[e] : mx;
    T sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += (p[e] = std::exp(r[e] - mx));
    const T inv = T(1) / sum;
    for (int64_t e = 0; e < E; ++e) p[e] *= inv;
    if (lse) lse[n] = mx + std::log(sum);
  }
}

template <class T>
void CpuMoeOps<T>::router_topk(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias,
                               bool normalize, int32_t* expert, T* gate) const {
  char* taken = scratch<char>(E);
  for (int64_t n = 0; n < N; ++n) {
    const T* s = select + n * E;
    const T* p = probs + n * E;
    std::fill(taken, taken + E, 0);
    T sum = 0;
    for (int j = 0; j < k; ++j) {
      // Strict '>' while scanning upwards keeps the lower index on a tie.
      int64_t best = -1;
      T best_score = 0;
      for (int64_t e = 0; e < E; ++e) {
        if (taken[e]) continue;
        const T score = s[e] + (bias ? bias[e] : T(0));
        if (best < 0 || score > best_score) best = e, best_score = score;
      }
      taken[best] = 1;
      expert[n * k + j] = static_cast<int32_t>(best);
      gate[n * k + j] = p[best];
      sum += p[best];
    }
    if (normalize)
      for (int j = 0; j < k; ++j) gate[n * k + j] /= sum;
  }
}

template <class T>
void CpuMoeOps<T>::router_statistics(int64_t N, int64_t E, const T* probs, const T* lse, double* prob_sum,
                                     double* lse_sq_sum, double* entropy_sum) const {
  for (int64_t e = 0; e < E; ++e) prob_sum[e] = 0;
  double zsum = 0, hsum = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* p = probs + n * E;
    for (int64_t e = 0; e < E; ++e) {
      const double pe = p[e];
      prob_sum[e] += pe;
      if (pe > 0) hsum -= pe * std::log(pe);
    }
    zsum += double(lse[n]) * double(lse[n]);
  }
  *lse_sq_sum = zsum;
  *entropy_sum = hsum;
}

template <class T>
void CpuMoeOps<T>::router_backward(int64_t N, int64_t E, int k, const T* probs, const T* lse,
                                   const int32_t* expert, const T* dgate, bool normalize, const T* aux_dprob,
                                   T z_scale, T* dlogits) const {
  T* dp = scratch<T>(E);
  for (int64_t n = 0; n < N; ++n) {
    const T* p = probs + n * E;
    const int32_t* ex = expert + n * k;
    const T* dg = dgate + n * k;
    for (int64_t e = 0; e < E; ++e) dp[e] = aux_dprob ? aux_dprob[e] : T(0);
    if (normalize) {
      // g_j = p_j / S, S = Σ_K p:  ∂L/∂p_j = (dg_j − Σ_i dg_i g_i) / S.
      T S = 0;
      for (int j = 0; j < k; ++j) S += p[ex[j]];
      T dot = 0;
      for (int j = 0; j < k; ++j) dot += dg[j] * p[ex[j]] / S;
      for (int j = 0; j < k; ++j) dp[ex[j]] += (dg[j] - dot) / S;
    } else {
      for (int j = 0; j < k; ++j) dp[ex[j]] += dg[j];
    }
    // Softmax backward; the z term's ∂(lse²)/∂r_e = 2·lse·p_e.
    T s = 0;
    for (int64_t e = 0; e < E; ++e) s += p[e] * dp[e];
    const T zc = T(2) * z_scale * lse[n];
    T* dr = dlogits + n * E;
    for (int64_t e = 0; e < E; ++e) dr[e] = p[e] * (dp[e] - s + zc);
  }
}

template <class T>
void CpuMoeOps<T>::router_jitter(int64_t n, const T* x, const T* mult, T* out) const {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * mult[i];
}

template <class T>
void CpuMoeOps<T>::gather_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const {
  for (int64_t i = 0; i < M; ++i) std::memcpy(dst + i * d, src + int64_t(index[i]) * d, sizeof(T) * d);
}

template <class T>
void CpuMoeOps<T>::scatter_add_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const {
  for (int64_t i = 0; i < M; ++i) {
    const T* s = src + i * d;
    T* o = dst + int64_t(index[i]) * d;
    for (int64_t c = 0; c < d; ++c) o[c] += s[c];
  }
}

template <class T>
void CpuMoeOps<T>::combine_rows(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                const T* gate, const T* rows, T* y) const {
  for (int64_t i = 0; i < M; ++i) {
    const T g = gate[gate_index[i]];
    const T* r = rows + i * d;
    T* o = y + int64_t(token[i]) * d;
    for (int64_t c = 0; c < d; ++c) o[c] += g * r[c];
  }
}

template <class T>
void CpuMoeOps<T>::combine_rows_backward(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                         const T* gate, const T* rows, const T* dy, T* drows, T* dgate) const {
  for (int64_t i = 0; i < M; ++i) {
    const T g = gate[gate_index[i]];
    const T* r = rows + i * d;
    const T* o = dy + int64_t(token[i]) * d;
    T* dr = drows + i * d;
    T dot = 0;
    for (int64_t c = 0; c < d; ++c) {
      dot += o[c] * r[c];
      dr[c] = g * o[c];
    }
    dgate[gate_index[i]] = dot;
  }
}

template class CpuMoeOps<float>;
template class CpuMoeOps<double>;

}  // namespace sy
