// model/mlp.h — Mlp<T>: the feed-forward block (dense FFN, routed expert or shared expert).
#pragma once
#include <string>
#include <vector>

#include "model/linear.h"
#include "runtime/config.h"

namespace sy {

// What one forward saves for its backward.  The caller owns it, so one Mlp
// (an expert) can run several forwards (chunks) before their backwards.
template <class T>
struct MlpActivations {
  Tensor<T> h1;  // fc1(x), pre-activation
  Tensor<T> h3;  // fc3(x) (swiglu only)
  Tensor<T> a;   // activation output, fc2's input
  Tensor<T> da;  // scratch for the backward
};

// gelu/relu: y = fc2(act(fc1 x));  swiglu: y = fc2(silu(fc1 x) ⊙ fc3 x)
// Parameters `<prefix>/fc1`, `<prefix>/fc2`, `<prefix>/fc3` as in fairseq/LLaMA.
template <class T>
class Mlp {
 public:
  Mlp() = default;
  Mlp(ParameterSet<T>& params, const std::string& prefix, int64_t d_model, int64_t d_hidden, Activation act,
      bool bias, ExpertTag tag = {});

  // y[N, d_model] = Mlp(x[N, d_model]) (y overwritten).
  void forward(const Backend<T>& be, const T* x, int64_t N, T* y, MlpActivations<T>& acts) const;
  // dx = ∂/∂x (overwritten, or added when accumulate_dx); parameter grads accumulated.
  void backward(const Backend<T>& be, const T* x, const T* dy, int64_t N, T* dx, MlpActivations<T>& acts,
                bool accumulate_dx = false) const;

  int64_t hidden() const { return fc1_.out(); }
  const Linear<T>& fc1() const { return fc1_; }
  const Linear<T>& fc2() const { return fc2_; }
  const Linear<T>& fc3() const { return fc3_; }

  // A layer's routed experts at once, each GEMM stage one grouped call
  // (CoreOps::gemm_grouped): expert j runs forward/backward on the rows
  // [offsets[j], offsets[j] + counts[j]) of x, y, dy and dx (row stride d_model);
  // experts with no rows are skipped.  Same results as one forward/backward per expert.
  static void forward_group(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                            const int64_t* offsets, const T* x, T* y, std::vector<MlpActivations<T>>& acts);
  static void backward_group(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                             const int64_t* offsets, const T* x, const T* dy, T* dx,
                             std::vector<MlpActivations<T>>& acts);
  // backward_group in its two halves, data first: dx (and the activation
  // gradients, left in acts' h1/h3), then the weight and bias gradients from
  // those.  The MoE layer sends dx back to its source ranks between the two, so
  // the weight-gradient GEMMs hide that transfer.
  static void backward_group_data(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                                  const int64_t* offsets, const T* dy, T* dx, std::vector<MlpActivations<T>>& acts);
  static void backward_group_weights(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                                     const int64_t* offsets, const T* x, const T* dy,
                                     std::vector<MlpActivations<T>>& acts);

 private:
  Activation act_ = Activation::gelu;
  Linear<T> fc1_, fc2_, fc3_;
};

}  // namespace sy
