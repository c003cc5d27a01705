// model/attention.cpp — SelfAttention<T> forward and backward over the backend's attention kernels.
#include "model/attention.h"

#include <string>

#include "runtime/error.h"
#include "runtime/profile.h"

namespace sy {

namespace {

const ModelConfig& checked(const ModelConfig& cfg) {
  if (cfg.n_heads <= 0 || cfg.d_model % cfg.n_heads != 0)
    throw ConfigError("model.d_model (" + std::to_string(cfg.d_model) + ") must be a multiple of model.n_heads (" +
                      std::to_string(cfg.n_heads) + ")");
  if (cfg.n_heads % cfg.kv_heads() != 0)
    throw ConfigError("model.n_heads (" + std::to_string(cfg.n_heads) + ") must be a multiple of model.n_kv_heads (" +
                      std::to_string(cfg.kv_heads()) + ")");
  if (cfg.positions == Positions::rope && cfg.d_head() % 2 != 0)
    throw ConfigError("model.positions = rope needs an even head size d_model/n_heads, got " +
                      std::to_string(cfg.d_head()));
  return cfg;
}

// Resizes only when the shape changes: every saved buffer is fully overwritten,
// so the zero-fill of Tensor::resize would be wasted work each step.
template <class T>
void ensure(Tensor<T>& t, std::initializer_list<int64_t> shape) {
  if (!t.has_shape(shape) || t.data() == nullptr) t.resize(shape);
}

}  // namespace

template <class T>
SelfAttention<T>::SelfAttention(ParameterSet<T>& params, const std::string& prefix, const ModelConfig& cfg)
    : d_model_(checked(cfg).d_model),
      n_heads_(cfg.n_heads),
      n_kv_heads_(cfg.kv_heads()),
      d_head_(cfg.d_head()),
      rope_(cfg.positions == Positions::rope),
      rope_theta_(cfg.rope_theta),
      q_proj_(params, prefix + "/q_proj", d_model_, n_heads_ * d_head_, cfg.bias),
      k_proj_(params, prefix + "/k_proj", d_model_, n_kv_heads_ * d_head_, cfg.bias),
      v_proj_(params, prefix + "/v_proj", d_model_, n_kv_heads_ * d_head_, cfg.bias),
      out_proj_(params, prefix + "/out_proj", n_heads_ * d_head_, d_model_, cfg.bias) {}

template <class T>
void SelfAttention<T>::forward(const Backend<T>& be, const StepContext& ctx, const T* x, T* y) {
  const int64_t B = ctx.batch, S = ctx.seq_len, N = ctx.tokens();
  const int64_t q_dim = n_heads_ * d_head_, kv_dim = n_kv_heads_ * d_head_;
  ensure(q_, {N, q_dim});
  ensure(k_, {N, kv_dim});
  ensure(v_, {N, kv_dim});
  ensure(attn_, {N, q_dim});
  ensure(lse_, {B, n_heads_, S});

  prof::Scope ps(prof::Phase::attn_proj);
  q_proj_.forward(be, x, N, q_.data());
  k_proj_.forward(be, x, N, k_.data());
  v_proj_.forward(be, x, N, v_.data());
  {
    prof::Scope core(prof::Phase::attn_core);
    if (rope_) {
      be.attn->rope_forward(B, S, n_heads_, d_head_, rope_theta_, q_.data());
      be.attn->rope_forward(B, S, n_kv_heads_, d_head_, rope_theta_, k_.data());
    }
    be.attn->attention_forward(B, S, n_heads_, n_kv_heads_, d_head_, q_.data(), k_.data(), v_.data(), attn_.data(),
                               lse_.data());
  }
  out_proj_.forward(be, attn_.data(), N, y);
}

template <class T>
void SelfAttention<T>::backward(const Backend<T>& be, const StepContext& ctx, const T* x, const T* dy, T* dx) {
  const int64_t B = ctx.batch, S = ctx.seq_len, N = ctx.tokens();
  SY_ASSERT(attn_.numel() == N * n_heads_ * d_head_, "SelfAttention::backward without a matching forward");
  ensure(d_attn_, {N, n_heads_ * d_head_});
  ensure(dq_, {N, n_heads_ * d_head_});
  ensure(dk_, {N, n_kv_heads_ * d_head_});
  ensure(dv_, {N, n_kv_heads_ * d_head_});

  prof::Scope ps(prof::Phase::attn_proj);
  out_proj_.backward(be, attn_.data(), dy, N, d_attn_.data());
  {
    prof::Scope core(prof::Phase::attn_core);
    be.attn->attention_backward(B, S, n_heads_, n_kv_heads_, d_head_, q_.data(), k_.data(), v_.data(),
                                attn_.data(), lse_.data(), d_attn_.data(), dq_.data(), dk_.data(), dv_.data());
    if (rope_) {
      be.attn->rope_backward(B, S, n_heads_, d_head_, rope_theta_, dq_.data());
      be.attn->rope_backward(B, S, n_kv_heads_, d_head_, rope_theta_, dk_.data());
    }
  }
  q_proj_.backward(be, x, dq_.data(), N, dx);
  k_proj_.backward(be, x, dk_.data(), N, dx, /*accumulate_dx=*/true);
  v_proj_.backward(be, x, dv_.data(), N, dx, /*accumulate_dx=*/true);
}

template class SelfAttention<float>;
template class SelfAttention<double>;

}  // namespace sy
