// model/norm.cpp — Norm<T> forward and backward through the backend's norm kernels.
#include "model/norm.h"

namespace sy {

template <class T>
Norm<T>::Norm(ParameterSet<T>& params, const std::string& prefix, int64_t d, NormKind kind) : kind_(kind), d_(d) {
  weight_ = &params.add(prefix + "/weight", {d}, InitSpec::Ones(), /*weight_decay=*/false);
  if (kind == NormKind::layernorm) bias_ = &params.add(prefix + "/bias", {d}, InitSpec::Zeros(), false);
}

template <class T>
void Norm<T>::forward(const Backend<T>& be, const T* x, int64_t N, T* y) {
  // Resize only on a shape change: resize() zero-fills, which the kernels overwrite anyway.
  if (rstd_.numel() != N || rstd_.empty()) rstd_.resize({N});
  if (kind_ == NormKind::layernorm) {
    if (mean_.numel() != N || mean_.empty()) mean_.resize({N});
    be.nn->layernorm_forward(N, d_, x, weight_->value.data(), bias_->value.data(), eps(), y, mean_.data(),
                             rstd_.data());
  } else {
    be.nn->rmsnorm_forward(N, d_, x, weight_->value.data(), eps(), y, rstd_.data());
  }
}

template <class T>
void Norm<T>::backward(const Backend<T>& be, const T* x, const T* dy, int64_t N, T* dx) {
  SY_ASSERT(rstd_.numel() == N && !rstd_.empty(), "Norm::backward without a matching forward");
  if (kind_ == NormKind::layernorm) {
    be.nn->layernorm_backward(N, d_, x, weight_->value.data(), mean_.data(), rstd_.data(), dy, dx,
                              weight_->grad.data(), bias_->grad.data());
  } else {
    be.nn->rmsnorm_backward(N, d_, x, weight_->value.data(), rstd_.data(), dy, dx, weight_->grad.data());
  }
}

template class Norm<float>;
template class Norm<double>;

}  // namespace sy
