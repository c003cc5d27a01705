// runtime/optimizer.cpp — AdamW step and gradient-norm helpers.
#include "runtime/optimizer.h"

namespace sy {

template <class T>
AdamW<T>::AdamW(ParameterSet<T>& params, const TrainConfig& cfg) : cfg_(cfg) {
  for (auto& p : params) {
    if (!p.trainable) continue;
    AdamMoments<T>& m = moments_.emplace_back();
    m.param = &p;
    m.exp_avg = Tensor<T>(p.value.shape());
    m.exp_avg_sq = Tensor<T>(p.value.shape());
  }
}

template <class T>
void AdamW<T>::step(const Backend<T>& be, double lr, double grad_scale) {
  ++step_;
  for (auto& m : moments_) {
    Parameter<T>& p = *m.param;
    be.core->adamw(p.value.numel(), p.value.data(), p.grad.data(), m.exp_avg.data(), m.exp_avg_sq.data(), lr,
                   cfg_.beta1, cfg_.beta2, cfg_.eps, p.weight_decay ? cfg_.weight_decay : 0.0, step_, grad_scale);
  }
}

template <class T>
void register_gemm_weights(const Backend<T>& be, ParameterSet<T>& params) {
  for (auto& p : params)
    if (p.trainable && p.value.rank() == 2) be.core->register_weight(p.value.data(), p.value.dim(0), p.value.dim(1));
}

template <class T>
double grad_sum_squares(const Backend<T>& be, const ParameterSet<T>& params, ParamGroup group) {
  double s = 0;
  for (const auto& p : params)
    if (p.trainable && p.group == group) s += be.core->sum_squares(p.grad.numel(), p.grad.data());
  return s;
}

double clip_factor(double norm, double max_norm) {
  if (max_norm <= 0) return 1.0;
  const double f = max_norm / (norm + 1e-6);
  return f < 1.0 ? f : 1.0;
}

template class AdamW<float>;
template class AdamW<double>;
template void register_gemm_weights(const Backend<float>&, ParameterSet<float>&);
template void register_gemm_weights(const Backend<double>&, ParameterSet<double>&);
template double grad_sum_squares(const Backend<float>&, const ParameterSet<float>&, ParamGroup);
template double grad_sum_squares(const Backend<double>&, const ParameterSet<double>&, ParamGroup);

}  // namespace sy
