// model/linear.h — Linear<T>: y = x·Wᵀ + b with W stored [out, in] like torch.nn.Linear.
#pragma once
#include <string>

#include "runtime/backend.h"
#include "runtime/parameters.h"

namespace sy {

// Marks the parameters of a routed expert (layer index, global expert id).
struct ExpertTag {
  int layer = -1;
  int expert = -1;
  bool is_expert() const { return expert >= 0; }
};

template <class T>
class Linear {
 public:
  Linear() = default;
  // Registers `<prefix>/weight` [out, in] and, when `bias`, `<prefix>/bias` [out].
  Linear(ParameterSet<T>& params, const std::string& prefix, int64_t in, int64_t out, bool bias,
         InitSpec init = InitSpec::Normal(), ExpertTag tag = {})
      : in_(in), out_(out) {
    if (tag.is_expert()) {
      weight_ = &params.add_expert(prefix + "/weight", {out, in}, init, tag.layer, tag.expert);
      if (bias) {
        bias_ = &params.add_expert(prefix + "/bias", {out}, InitSpec::Zeros(), tag.layer, tag.expert);
        bias_->weight_decay = false;
      }
    } else {
      weight_ = &params.add(prefix + "/weight", {out, in}, init, true);
      if (bias) bias_ = &params.add(prefix + "/bias", {out}, InitSpec::Zeros(), false);
    }
  }
  // For weights that live elsewhere (tied embeddings, expert slices).
  Linear(Parameter<T>* weight, Parameter<T>* bias) : weight_(weight), bias_(bias) {
    out_ = weight->value.dim(0);
    in_ = weight->value.dim(1);
  }

  // y[N, out] = x[N, in] · Wᵀ + b   (y is overwritten)
  void forward(const Backend<T>& be, const T* x, int64_t N, T* y) const {
    be.core->gemm(false, true, N, out_, in_, T(1), x, in_, weight_->value.data(), in_, T(0), y, out_);
    if (bias_) be.core->add_bias(N, out_, bias_->value.data(), y);
  }

  // dW += dyᵀ·x, db += Σ dy, and dx = dy·W (dx += dy·W when accumulate_dx).  dx may be null.
  void backward(const Backend<T>& be, const T* x, const T* dy, int64_t N, T* dx, bool accumulate_dx = false) const {
    be.core->gemm(true, false, out_, in_, N, T(1), dy, out_, x, in_, T(1), weight_->grad.data(), in_);
    if (bias_) be.core->bias_grad(N, out_, dy, bias_->grad.data());
    if (dx) be.core->gemm(false, false, N, in_, out_, T(1), dy, out_, weight_->value.data(), in_,
                          accumulate_dx ? T(1) : T(0), dx, in_);
  }

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  Parameter<T>* weight() const { return weight_; }
  Parameter<T>* bias() const { return bias_; }

 private:
  int64_t in_ = 0, out_ = 0;
  Parameter<T>* weight_ = nullptr;
  Parameter<T>* bias_ = nullptr;
};

}  // namespace sy
