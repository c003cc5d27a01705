// model/transformer.cpp — Transformer<T>: construction in checkpoint-name order, forward, backward.
#include "model/transformer.h"

#include <string>

#include "runtime/profile.h"

namespace sy {

namespace {
// The three small steps every block repeats, each under its profile phase.
template <class T>
void norm_forward(const Backend<T>& be, Norm<T>& norm, const T* x, int64_t N, T* y) {
  prof::Scope ps(prof::Phase::norm);
  norm.forward(be, x, N, y);
}
template <class T>
void norm_backward(const Backend<T>& be, Norm<T>& norm, const T* x, const T* dy, int64_t N, T* dx) {
  prof::Scope ps(prof::Phase::norm);
  norm.backward(be, x, dy, N, dx);
}
template <class T>
void residual_add(const Backend<T>& be, int64_t n, const T* a, const T* b, T* out) {
  prof::Scope ps(prof::Phase::residual);
  be.core->add(n, a, b, out);
}
}  // namespace

template <class T>
Transformer<T>::Transformer(const ModelConfig& model, const MoeConfig& moe, int ep_rank, int ep_size)
    : cfg_(model), moe_cfg_(moe) {
  const int64_t d = cfg_.d_model;
  embed_ = std::make_unique<Embedding<T>>(params_, cfg_);
  blocks_.resize(cfg_.n_layers);
  for (int l = 0; l < cfg_.n_layers; ++l) {
    const std::string prefix = "decoder/layers/" + std::to_string(l);
    Block& b = blocks_[l];
    b.norm1 = std::make_unique<Norm<T>>(params_, prefix + "/self_attn_layer_norm", d, cfg_.norm);
    b.attn = std::make_unique<SelfAttention<T>>(params_, prefix + "/self_attn", cfg_);
    b.norm2 = std::make_unique<Norm<T>>(params_, prefix + "/final_layer_norm", d, cfg_.norm);
    if (cfg_.is_moe_layer(l))
      b.moe = std::make_unique<MoeLayer<T>>(params_, prefix + "/moe_layer", l, cfg_, moe_cfg_, ep_rank, ep_size);
    else
      b.mlp = std::make_unique<Mlp<T>>(params_, prefix, d, cfg_.d_ff, cfg_.activation, cfg_.bias);
  }
  final_norm_ = std::make_unique<Norm<T>>(params_, "decoder/layer_norm", d, cfg_.norm);
  head_ = std::make_unique<LmHead<T>>(params_, cfg_, embed_->token_table());
}

template <class T>
void Transformer<T>::split_tokens(const StepContext& ctx, const int32_t* tokens) {
  const int64_t B = ctx.batch, S = ctx.seq_len;
  // Tensors, not host vectors: the embedding and cross-entropy kernels read them on the compute device.
  if (!ids_.has_shape({B * S})) ids_.resize({B * S});
  if (!targets_.has_shape({B * S})) targets_.resize({B * S});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < S; ++t) {
      ids_[b * S + t] = tokens[b * (S + 1) + t];
      targets_[b * S + t] = tokens[b * (S + 1) + t + 1];
    }
}

template <class T>
void Transformer<T>::forward_blocks(const Backend<T>& be, const StepContext& ctx, const int32_t* ids,
                                    Dispatcher<T>& dispatcher, MicroBatchLoss& loss) {
  const int64_t N = ctx.tokens(), d = cfg_.d_model;
  hidden_.resize({N, d});
  scratch_.resize({N, d});
  {
    prof::Scope ps(prof::Phase::embedding);
    embed_->forward(be, ctx, ids, hidden_.data());
  }
  for (int l = 0; l < cfg_.n_layers; ++l) {
    Block& b = blocks_[l];
    b.h_in.resize({N, d});
    b.x1.resize({N, d});
    b.a.resize({N, d});
    b.x2.resize({N, d});
    {
      prof::Scope ps(prof::Phase::residual);
      std::copy(hidden_.data(), hidden_.data() + N * d, b.h_in.data());
    }
    // a = h + Attn(Norm1(h))
    norm_forward(be, *b.norm1, b.h_in.data(), N, b.x1.data());
    b.attn->forward(be, ctx, b.x1.data(), scratch_.data());
    residual_add(be, N * d, b.h_in.data(), scratch_.data(), b.a.data());
    // h = a + F(Norm2(a))
    norm_forward(be, *b.norm2, b.a.data(), N, b.x2.data());
    if (b.moe) {
      b.moe->forward(be, ctx, b.x2.data(), scratch_.data(), dispatcher);
      const MoeStats& s = b.moe->stats();
      loss.aux += s.aux;
      loss.z += s.z;
    } else {
      prof::Scope ps(prof::Phase::dense_mlp);
      b.mlp->forward(be, b.x2.data(), N, scratch_.data(), b.mlp_acts);
    }
    residual_add(be, N * d, b.a.data(), scratch_.data(), hidden_.data());
  }
}

template <class T>
MicroBatchLoss Transformer<T>::forward_to_head(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                                               Dispatcher<T>& dispatcher) {
  split_tokens(ctx, tokens);
  MicroBatchLoss loss;
  loss.tokens = ctx.tokens();
  forward_blocks(be, ctx, ids_.data(), dispatcher, loss);
  normed_.resize({ctx.tokens(), cfg_.d_model});
  norm_forward(be, *final_norm_, hidden_.data(), ctx.tokens(), normed_.data());
  return loss;
}

template <class T>
MicroBatchLoss Transformer<T>::forward_backward(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                                                Dispatcher<T>& dispatcher) {
  const int64_t N = ctx.tokens(), d = cfg_.d_model;
  MicroBatchLoss loss = forward_to_head(be, ctx, tokens, dispatcher);

  // Head: CE mean over the micro-batch, weighted by loss_scale.
  grad_.resize({N, d});
  grad2_.resize({N, d});
  prof::BackwardSection backward_section;  // the head's forward is fused with its backward: counted here
  {
    prof::Scope ps(prof::Phase::lm_head);
    loss.ce_sum = head_->forward_backward(be, normed_.data(), targets_.data(), N, T(ctx.loss_scale / double(N)),
                                          grad2_.data());
  }
  // grad_ holds ∂L/∂h (the residual stream) from here on.
  norm_backward(be, *final_norm_, hidden_.data(), grad2_.data(), N, grad_.data());
  if (backward_hook_) backward_hook_(cfg_.n_layers);

  for (int l = cfg_.n_layers - 1; l >= 0; --l) {
    Block& b = blocks_[l];
    // h_out = a + F(x2): ∂a = ∂h_out + Norm2ᵀ(Fᵀ ∂h_out)
    if (b.moe) {
      b.moe->backward(be, ctx, b.x2.data(), grad_.data(), scratch_.data(), dispatcher);
    } else {
      prof::Scope ps(prof::Phase::dense_mlp);
      b.mlp->backward(be, b.x2.data(), grad_.data(), N, scratch_.data(), b.mlp_acts);
    }
    norm_backward(be, *b.norm2, b.a.data(), scratch_.data(), N, grad2_.data());
    residual_add(be, N * d, grad_.data(), grad2_.data(), grad_.data());
    // a = h_in + Attn(x1): ∂h_in = ∂a + Norm1ᵀ(Attnᵀ ∂a)
    b.attn->backward(be, ctx, b.x1.data(), grad_.data(), scratch_.data());
    norm_backward(be, *b.norm1, b.h_in.data(), scratch_.data(), N, grad2_.data());
    residual_add(be, N * d, grad_.data(), grad2_.data(), grad_.data());
    if (backward_hook_) backward_hook_(l);
  }
  {
    prof::Scope ps(prof::Phase::embedding);
    embed_->backward(be, ctx, ids_.data(), grad_.data());
  }
  if (backward_hook_) backward_hook_(-1);
  return loss;
}

template <class T>
MicroBatchLoss Transformer<T>::forward_loss(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                                            Dispatcher<T>& dispatcher) {
  MicroBatchLoss loss = forward_to_head(be, ctx, tokens, dispatcher);
  loss.ce_sum = head_->forward_loss(be, normed_.data(), targets_.data(), ctx.tokens());
  return loss;
}

template <class T>
void Transformer<T>::last_logits(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, T* out,
                                 Dispatcher<T>& dispatcher) {
  const int64_t N = ctx.tokens(), d = cfg_.d_model;
  MicroBatchLoss unused;
  forward_blocks(be, ctx, ids, dispatcher, unused);
  normed_.resize({ctx.batch, d});
  final_norm_->forward(be, hidden_.data(), N, scratch_.data());
  for (int64_t b = 0; b < ctx.batch; ++b) {
    const T* row = scratch_.data() + ((b + 1) * ctx.seq_len - 1) * d;
    std::copy(row, row + d, normed_.data() + b * d);
  }
  head_->logits(be, normed_.data(), ctx.batch, out);
}

template <class T>
std::vector<MoeLayer<T>*> Transformer<T>::moe_layers() {
  std::vector<MoeLayer<T>*> out;
  for (auto& b : blocks_)
    if (b.moe) out.push_back(b.moe.get());
  return out;
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace sy
