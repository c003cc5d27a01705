// runtime/optimizer.h — AdamW<T>: decoupled weight decay over a ParameterSet, global grad-norm clipping.
#pragma once
#include <vector>

#include "runtime/backend.h"
#include "runtime/config.h"
#include "runtime/parameters.h"

namespace sy {

// The moments of one parameter, kept in the parameter set's order.
template <class T>
struct AdamMoments {
  Parameter<T>* param = nullptr;
  Tensor<T> exp_avg;
  Tensor<T> exp_avg_sq;
};

template <class T>
class AdamW {
 public:
  // Holds moments for every trainable parameter of `params` (exactly what this rank owns).
  AdamW(ParameterSet<T>& params, const TrainConfig& cfg);

  // One update with learning rate `lr`; `grad_scale` multiplies every gradient first
  // (the clipping factor).  Biases and norm weights (weight_decay == false) get no decay.
  void step(const Backend<T>& be, double lr, double grad_scale);

  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  std::vector<AdamMoments<T>>& moments() { return moments_; }
  const std::vector<AdamMoments<T>>& moments() const { return moments_; }

 private:
  std::vector<AdamMoments<T>> moments_;
  TrainConfig cfg_;
  int64_t step_ = 0;
};

// Declares every trainable 2-D parameter (what AdamW updates) a GEMM weight of
// the backend (CoreOps::register_weight), so a backend may keep derived copies
// of them refreshed by its adamw().  Call before the first step.
template <class T>
void register_gemm_weights(const Backend<T>& be, ParameterSet<T>& params);

// Σ grad² over the parameters of one group (dense or expert), in double.
template <class T>
double grad_sum_squares(const Backend<T>& be, const ParameterSet<T>& params, ParamGroup group);

// The factor that scales a gradient of global norm `norm` down to `max_norm`
// (torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), capped at 1); 1 when max_norm ≤ 0.
double clip_factor(double norm, double max_norm);

}  // namespace sy
