// tests/unit/small_models.h — tiny fairseq- and OLMoE-style configurations and one training step, for model-level tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/transformer.h"
#include "runtime/optimizer.h"
#include "runtime/rng.h"

namespace sy::test {

struct SmallModel {
  ModelConfig model;
  MoeConfig moe;
};

// vocab 37, d_model 16, 2 layers of 2 heads, d_ff 24, 16 positions (learned), no MoE layer.
inline ModelConfig small_base() {
  ModelConfig m;
  m.vocab_size = 37;
  m.d_model = 16;
  m.n_layers = 2;
  m.n_heads = 2;
  m.d_ff = 24;
  m.max_seq_len = 16;
  return m;
}

// fairseq: LayerNorm, GELU, sinusoidal positions (offset 2), scaled tied embeddings,
// biases; layer 1 is MoE, top-2 of 4 with normalised gates and capacity factor 1 (drops).
inline SmallModel fairseq_style(ModelConfig base = small_base()) {
  SmallModel s{base, {}};
  s.model.positions = Positions::sinusoidal;
  s.model.position_offset = 2;
  s.model.scale_embeddings = true;
  s.model.moe_layers = {1};
  s.moe.num_experts = 4;
  s.moe.top_k = 2;
  s.moe.d_expert = 24;
  s.moe.capacity_factor = 1.0;
  s.moe.normalize_topk = true;
  s.moe.aux_loss_coef = 0.01;
  return s;
}

// OLMoE: RMSNorm, SwiGLU, RoPE, GQA (4 query / 2 KV heads), no biases, untied
// embeddings; both layers MoE, dropless top-4 of 8, one shared expert, aux and z-loss.
inline SmallModel olmoe_style(ModelConfig base = small_base()) {
  SmallModel s{base, {}};
  s.model.n_heads = 4;
  s.model.n_kv_heads = 2;
  s.model.norm = NormKind::rmsnorm;
  s.model.activation = Activation::swiglu;
  s.model.positions = Positions::rope;
  s.model.bias = false;
  s.model.tie_embeddings = false;
  s.model.moe_layers = {0, 1};
  s.moe.num_experts = 8;
  s.moe.top_k = 4;
  s.moe.d_expert = 8;
  s.moe.shared_experts = 1;
  s.moe.aux_loss_coef = 0.01;
  s.moe.z_loss_coef = 0.001;
  return s;
}

// Uniform token ids below `vocab` from `seed`, into the existing buffer (no allocation).
inline void random_tokens(std::vector<int32_t>& tokens, uint64_t seed, int64_t vocab) {
  Rng rng(seed);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(vocab));
}

// One optimizer step on a micro-batch: gradients zeroed, forward and backward,
// global-norm clipping at 1, AdamW at `lr`.  AdamW leaves the gradients in place.
template <class T>
MicroBatchLoss train_step(const Backend<T>& be, Transformer<T>& model, AdamW<T>& opt, Dispatcher<T>& dispatcher,
                          const StepContext& ctx, const int32_t* tokens, double lr) {
  model.params().zero_grad();
  const MicroBatchLoss l = model.forward_backward(be, ctx, tokens, dispatcher);
  const double norm = std::sqrt(grad_sum_squares(be, model.params(), ParamGroup::dense) +
                                grad_sum_squares(be, model.params(), ParamGroup::expert));
  opt.step(be, lr, clip_factor(norm, 1.0));
  return l;
}

// A model initialised from `init_seed` with its AdamW (lr), a single-rank dispatcher
// and a training micro-batch of batch × seq_len tokens; weights registered with `be`.
template <class T>
struct SmallRun {
  SmallRun(const Backend<T>& be, const SmallModel& m, uint64_t init_seed, double lr, int64_t batch = 2,
           int64_t seq_len = 12)
      : model(m.model, m.moe), tc(with_lr(lr)), opt(model.params(), tc) {
    init_parameters(model.params(), init_seed);
    register_gemm_weights(be, model.params());
    ctx.batch = batch;
    ctx.seq_len = seq_len;
    ctx.training = true;
    tokens.resize(batch * (seq_len + 1));
  }
  // New uniform tokens for step `step` (ctx.step set too).
  void draw(int step, uint64_t seed) {
    random_tokens(tokens, seed, model.config().vocab_size);
    ctx.step = step;
  }
  MicroBatchLoss step(const Backend<T>& be) { return train_step(be, model, opt, dispatcher, ctx, tokens.data(), tc.lr); }

  Transformer<T> model;
  TrainConfig tc;
  AdamW<T> opt;
  LocalDispatcher<T> dispatcher;
  StepContext ctx;
  std::vector<int32_t> tokens;

 private:
  static TrainConfig with_lr(double lr) {
    TrainConfig c;
    c.lr = lr;
    return c;
  }
};

}  // namespace sy::test
