// model/transformer.h — Transformer<T>: the decoder-only MoE language model of DESIGN.md §3, forward and backward.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "model/attention.h"
#include "model/dispatcher.h"
#include "model/embedding.h"
#include "model/lm_head.h"
#include "model/mlp.h"
#include "model/moe_layer.h"
#include "model/norm.h"
#include "runtime/config.h"

namespace sy {

// What one micro-batch's forward/backward reports.
struct MicroBatchLoss {
  double ce_sum = 0;  // Σ CE over the micro-batch's target tokens
  int64_t tokens = 0;
  double aux = 0;  // Σ_l aux_l (unweighted)
  double z = 0;    // Σ_l z_l (unweighted)
};

template <class T>
class Transformer {
 public:
  // Builds every parameter this rank owns: the dense replica and experts
  // [ep_rank·L, (ep_rank+1)·L) of every MoE layer.
  Transformer(const ModelConfig& model, const MoeConfig& moe, int ep_rank = 0, int ep_size = 1);

  ParameterSet<T>& params() { return params_; }
  const ModelConfig& config() const { return cfg_; }

  // tokens: [ctx.batch, ctx.seq_len + 1] (inputs and shifted targets).  Accumulates the
  // gradient of ctx.loss_scale · (CE mean + aux_coef·Σaux + z_coef·Σz) into params().
  MicroBatchLoss forward_backward(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                                  Dispatcher<T>& dispatcher);
  // Forward only, no noise, dropless: Σ CE of the batch (eval).
  MicroBatchLoss forward_loss(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                              Dispatcher<T>& dispatcher);
  // Logits of the last position of each sequence: ids [batch, seq_len] → out [batch, vocab].
  void last_logits(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, T* out,
                   Dispatcher<T>& dispatcher);

  // MoE layers in layer order (for statistics and loss-free balancing).
  std::vector<MoeLayer<T>*> moe_layers();

  // Called during forward_backward each time a backward stage has finished
  // writing its parameters' gradients: n_layers (head and final norm), then
  // n_layers−1 … 0 (the blocks), then −1 (embeddings).  Gradient all-reduce
  // buckets start from here while the remaining stages run.
  void set_backward_hook(std::function<void(int stage)> hook) { backward_hook_ = std::move(hook); }

 private:
  struct Block {
    std::unique_ptr<Norm<T>> norm1, norm2;
    std::unique_ptr<SelfAttention<T>> attn;
    std::unique_ptr<Mlp<T>> mlp;  // dense FFN, or
    std::unique_ptr<MoeLayer<T>> moe;
    MlpActivations<T> mlp_acts;
    Tensor<T> h_in, x1, a, x2;  // saved for backward: input, Norm1(h), h + Attn, Norm2(a)
  };

  // Runs embedding and every block; leaves the final hidden state in hidden_.
  void forward_blocks(const Backend<T>& be, const StepContext& ctx, const int32_t* ids, Dispatcher<T>& dispatcher,
                      MicroBatchLoss& loss);
  void split_tokens(const StepContext& ctx, const int32_t* tokens);
  // split_tokens + forward_blocks + final norm: leaves Norm_F(h) in normed_.
  MicroBatchLoss forward_to_head(const Backend<T>& be, const StepContext& ctx, const int32_t* tokens,
                                 Dispatcher<T>& dispatcher);

  ModelConfig cfg_;
  MoeConfig moe_cfg_;
  ParameterSet<T> params_;
  std::unique_ptr<Embedding<T>> embed_;
  std::vector<Block> blocks_;
  std::unique_ptr<Norm<T>> final_norm_;
  std::unique_ptr<LmHead<T>> head_;
  std::function<void(int)> backward_hook_;
  Tensor<int32_t> ids_, targets_;  // [batch·seq_len] inputs and shifted targets
  Tensor<T> hidden_, normed_, grad_, grad2_, scratch_;
};

}  // namespace sy
