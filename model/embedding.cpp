// model/embedding.cpp — Embedding<T> forward/backward and the sinusoidal position table.
#include "model/embedding.h"

#include <cmath>
#include <string>

namespace sy {

template <class T>
Tensor<T> sinusoidal_positions(int64_t rows, int64_t d) {
  // PE[p, i] = sin(p·ω_i), PE[p, i + d/2] = cos(p·ω_i), ω_i = 10000^(−i/(d/2 − 1)); an odd
  // d leaves the last column 0.  fairseq computes this in float32; double here, so
  // large positions differ from a fairseq table by float rounding only.
  Tensor<T> pe({rows, d});
  const int64_t half = d / 2;
  // d/2 = 1 would divide by zero in fairseq's formula; ω_0 = 1 there.
  const double step = half > 1 ? std::log(10000.0) / double(half - 1) : 0.0;
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(p) * std::exp(-double(i) * step);
      pe[p * d + i] = T(std::sin(angle));
      pe[p * d + half + i] = T(std::cos(angle));
    }
  return pe;
}

template <class T>
Embedding<T>::Embedding(ParameterSet<T>& params, const ModelConfig& cfg)
    : vocab_(cfg.vocab_size),
      d_(cfg.d_model),
      offset_(cfg.position_offset),
      max_seq_len_(cfg.max_seq_len),
      kind_(cfg.positions) {
  const double init_std = cfg.scale_embeddings ? 1.0 / std::sqrt(double(d_)) : 0.02;
  scale_ = cfg.scale_embeddings ? T(std::sqrt(double(d_))) : T(1);
  tokens_ = &params.add("decoder/embed_tokens/weight", {vocab_, d_}, InitSpec::Normal(init_std));
  if (kind_ == Positions::learned)
    positions_ = &params.add("decoder/embed_positions/weight", {max_seq_len_ + offset_, d_},
                             InitSpec::Normal(init_std));
  else if (kind_ == Positions::sinusoidal)
    sinusoidal_ = sinusoidal_positions<T>(max_seq_len_ + offset_, d_);
}

template <class T>
void Embedding<T>::forward(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, T* h) const {
  const int64_t N = ctx.tokens();
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= vocab_)
      throw DataError("token id " + std::to_string(ids[n]) + " outside [0, model.vocab_size = " +
                      std::to_string(vocab_) + ")");
  if (kind_ != Positions::rope && ctx.seq_len > max_seq_len_)
    throw ConfigError("sequence length " + std::to_string(ctx.seq_len) + " exceeds model.max_seq_len = " +
                      std::to_string(max_seq_len_));
  be.nn->embedding_forward(N, d_, ids, tokens_->value.data(), scale_, h);
  if (kind_ == Positions::learned)
    be.nn->add_positions(ctx.batch, ctx.seq_len, d_, positions_->value.data(), offset_, h);
  else if (kind_ == Positions::sinusoidal)
    be.nn->add_positions(ctx.batch, ctx.seq_len, d_, sinusoidal_.data(), offset_, h);
}

template <class T>
void Embedding<T>::backward(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, const T* dh) const {
  be.nn->embedding_backward(ctx.tokens(), d_, ids, dh, scale_, tokens_->grad.data());
  if (kind_ == Positions::learned)
    be.nn->positions_backward(ctx.batch, ctx.seq_len, d_, dh, offset_, positions_->grad.data());
}

template class Embedding<float>;
template class Embedding<double>;
template Tensor<float> sinusoidal_positions<float>(int64_t, int64_t);
template Tensor<double> sinusoidal_positions<double>(int64_t, int64_t);

}  // namespace sy
