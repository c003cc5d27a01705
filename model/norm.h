// model/norm.h — Norm<T>: LayerNorm (eps 1e-5, weight + bias) or RMSNorm (eps 1e-6, weight only) over d.
#pragma once
#include <string>

#include "runtime/backend.h"
#include "runtime/config.h"
#include "runtime/parameters.h"

namespace sy {

template <class T>
class Norm {
 public:
  static constexpr double kLayerNormEps = 1e-5;
  static constexpr double kRmsNormEps = 1e-6;

  Norm() = default;
  // Registers `<prefix>/weight` [d] (ones) and, for LayerNorm, `<prefix>/bias` [d] (zeros); no weight decay.
  Norm(ParameterSet<T>& params, const std::string& prefix, int64_t d, NormKind kind);

  // y[N, d] = Norm(x) (overwritten); saves the row statistics for backward.
  void forward(const Backend<T>& be, const T* x, int64_t N, T* y);
  // dx overwritten (may alias dy); weight/bias grads accumulated.  Uses the
  // statistics of the last forward, which must have seen the same x.
  void backward(const Backend<T>& be, const T* x, const T* dy, int64_t N, T* dx);

  NormKind kind() const { return kind_; }
  int64_t dim() const { return d_; }
  double eps() const { return kind_ == NormKind::layernorm ? kLayerNormEps : kRmsNormEps; }
  Parameter<T>* weight() const { return weight_; }
  Parameter<T>* bias() const { return bias_; }  // null for RMSNorm

 private:
  NormKind kind_ = NormKind::layernorm;
  int64_t d_ = 0;
  Parameter<T>* weight_ = nullptr;
  Parameter<T>* bias_ = nullptr;
  Tensor<T> mean_;  // [N], LayerNorm only
  Tensor<T> rstd_;  // [N]
};

}  // namespace sy
