// runtime/ops/moe_ops.h — MoeOps<T>: router softmax/top-k/statistics/backward, row gather/scatter, weighted combine.
#pragma once
#include <cstdint>

namespace sy {

// Shapes: N tokens, E experts, k experts per token, M routed rows, d features.
// Routing assignments are numbered n·k + j (token n, its j-th choice); gate[]
// and dgate[] are [N, k] in that numbering.  Index arrays are int32 device
// arrays (host memory for the CPU backend).  The permutation itself (which row
// goes where) is host logic: model/dispatch_plan.h.
template <class T>
class MoeOps {
 public:
  virtual ~MoeOps() = default;

  // probs[n, :] = softmax(logits[n, :]); lse[n] = logsumexp(logits[n, :]) when lse is non-null.
  virtual void router_softmax(int64_t N, int64_t E, const T* logits, T* probs, T* lse) const = 0;

  // For each row, the k experts with the largest score[n, e] = select[n, e] + bias[e]
  // (bias may be null) in descending score order; ties go to the lower index.
  // gate[n, j] = probs[n, expert[n, j]], divided by Σ_j probs[n, expert[n, j]] when
  // `normalize`.  `select` is probs itself unless selection noise is on.
  virtual void router_topk(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias,
                           bool normalize, int32_t* expert, T* gate) const = 0;

  // Sums over the N rows, in double on the host: prob_sum[e] = Σ_n probs[n, e] (prob_sum is [E]),
  // *lse_sq_sum = Σ_n lse[n]², *entropy_sum = Σ_n −Σ_e p log p.
  virtual void router_statistics(int64_t N, int64_t E, const T* probs, const T* lse, double* prob_sum,
                                 double* lse_sq_sum, double* entropy_sum) const = 0;

  // dlogits (overwritten) = ∂/∂logits of
  //     Σ_{n,j} dgate[n, j]·gate[n, j]  +  Σ_{n,e} aux_dprob[e]·probs[n, e]  +  z_scale·Σ_n lse[n]²
  // where gate is router_topk's output for the same (expert, normalize); the selection
  // itself is piecewise constant.  aux_dprob may be null (no aux term).
  virtual void router_backward(int64_t N, int64_t E, int k, const T* probs, const T* lse, const int32_t* expert,
                               const T* dgate, bool normalize, const T* aux_dprob, T z_scale,
                               T* dlogits) const = 0;

  // out[i] = x[i] · mult[i] for i < n (out may alias x): the router-input jitter and its backward.
  virtual void router_jitter(int64_t n, const T* x, const T* mult, T* out) const = 0;

  // dst[i, :] = src[index[i], :] for i < M.
  virtual void gather_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const = 0;
  // dst[index[i], :] += src[i, :] for i < M (the backward of gather_rows).
  virtual void scatter_add_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const = 0;

  // y[token[i], :] += gate[gate_index[i]] · rows[i, :] for i < M (the weighted un-permute).
  virtual void combine_rows(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                            const T* rows, T* y) const = 0;
  // Its backward: drows[i, :] = gate[gate_index[i]] · dy[token[i], :] (overwritten) and
  // dgate[gate_index[i]] = dy[token[i], :] · rows[i, :] (overwritten; entries of dropped
  // assignments are not touched, so the caller zeroes dgate first).
  virtual void combine_rows_backward(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index,
                                     const T* gate, const T* rows, const T* dy, T* drows, T* dgate) const = 0;
};

}  // namespace sy
