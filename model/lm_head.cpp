// model/lm_head.cpp — LmHead<T>: chunked logits + cross-entropy forward/backward.
#include "model/lm_head.h"

#include <algorithm>

#include "runtime/profile.h"

namespace sy {

template <class T>
LmHead<T>::LmHead(ParameterSet<T>& params, const ModelConfig& cfg, Parameter<T>* token_table, int64_t chunk_rows)
    : tied_(cfg.tie_embeddings) {
  set_chunk_rows(chunk_rows > 0 ? chunk_rows : default_chunk_rows(cfg.vocab_size));
  if (tied_) {
    SY_ASSERT(token_table, "tied LmHead needs the token table");
    proj_ = Linear<T>(token_table, nullptr);
  } else {
    proj_ = Linear<T>(params, "decoder/output_projection", cfg.d_model, cfg.vocab_size, /*bias=*/false,
                      InitSpec::Normal());
  }
}

template <class T>
void LmHead<T>::set_chunk_rows(int64_t rows) {
  SY_ASSERT(rows > 0, "LmHead chunk_rows must be positive");
  chunk_rows_ = rows;
}

template <class T>
double LmHead<T>::forward_backward(const Backend<T>& be, const T* h, const int32_t* targets, int64_t N,
                                   T grad_scale, T* dh) {
  const int64_t V = proj_.out(), d = proj_.in();
  const int64_t rows = std::min(N, chunk_rows_);
  // Resize only on a shape change: resize() zero-fills, and the GEMM overwrites anyway.
  if (chunk_logits_.empty() || !chunk_logits_.has_shape({rows, V})) chunk_logits_.resize({rows, V});
  T* buf = chunk_logits_.data();
  double total = 0;
  for (int64_t begin = 0; begin < N; begin += rows) {
    const int64_t n = std::min(rows, N - begin);
    const T* hc = h + begin * d;
    proj_.forward(be, hc, n, buf);
    // In place: buf becomes grad_scale · (softmax − onehot) when gradients are wanted.
    {
      prof::Scope ps(prof::Phase::cross_entropy);
      total += be.nn->cross_entropy(n, V, buf, targets + begin, grad_scale, dh ? buf : nullptr);
    }
    if (dh) proj_.backward(be, hc, buf, n, dh + begin * d);
  }
  return total;
}

template <class T>
double LmHead<T>::forward_loss(const Backend<T>& be, const T* h, const int32_t* targets, int64_t N) {
  return forward_backward(be, h, targets, N, T(0), nullptr);
}

template <class T>
void LmHead<T>::logits(const Backend<T>& be, const T* h, int64_t N, T* out) const {
  proj_.forward(be, h, N, out);
}

template class LmHead<float>;
template class LmHead<double>;

}  // namespace sy
