// tests/unit/transformer_test.cpp — the whole model's gradient by finite differences (float64), per preset style.
#include "model/transformer.h"

#include <cmath>
#include <map>

#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

struct ModelCase {
  const char* name;
  ModelConfig model;
  MoeConfig moe;
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

ModelConfig base_model() {
  ModelConfig m;
  m.vocab_size = 11;
  m.d_model = 8;
  m.n_layers = 2;
  m.n_heads = 2;
  m.d_ff = 12;
  m.max_seq_len = 8;
  m.moe_layers = {1};
  return m;
}

std::vector<ModelCase> cases() {
  std::vector<ModelCase> out;
  {  // fairseq style: LayerNorm, GELU, sinusoidal with offset, biases, tied, scaled, top-2 with drops.
    ModelCase c{"fairseq", base_model(), {}};
    c.model.positions = Positions::sinusoidal;
    c.model.position_offset = 2;
    c.model.scale_embeddings = true;
    c.moe.num_experts = 4;
    c.moe.top_k = 2;
    c.moe.d_expert = 12;
    c.moe.capacity_factor = 0.5;
    c.moe.aux_loss_coef = 0.1;
    c.moe.z_loss_coef = 0.01;
    out.push_back(c);
  }
  {  // OLMoE style: RMSNorm, SwiGLU, RoPE, GQA, no biases, untied, top-4 of 8 dropless, shared expert.
    ModelCase c{"olmoe", base_model(), {}};
    c.model.d_model = 16;
    c.model.n_heads = 4;
    c.model.n_kv_heads = 2;
    c.model.norm = NormKind::rmsnorm;
    c.model.activation = Activation::swiglu;
    c.model.positions = Positions::rope;
    c.model.bias = false;
    c.model.tie_embeddings = false;
    c.model.moe_layers = {0, 1};
    c.moe.num_experts = 8;
    c.moe.top_k = 4;
    c.moe.d_expert = 6;
    c.moe.normalize_topk = true;
    c.moe.shared_experts = 1;
    c.moe.aux_loss_coef = 0.1;
    c.moe.z_loss_coef = 0.05;
    out.push_back(c);
  }
  {  // learned positions, top-1, ReLU.
    ModelCase c{"learned_top1", base_model(), {}};
    c.model.activation = Activation::relu;
    c.moe.num_experts = 3;
    c.moe.top_k = 1;
    c.moe.d_expert = 12;
    c.moe.capacity_factor = 1.0;
    out.push_back(c);
  }
  return out;
}

class TransformerGrad : public ::testing::TestWithParam<ModelCase> {};

TEST_P(TransformerGrad, EveryParameterMatchesFiniteDifferences) {
  const ModelCase& c = GetParam();
  auto be = make_cpu_backend<double>();
  Transformer<double> model(c.model, c.moe);
  init_parameters(model.params(), 3);
  // Larger weights than the training init, so every path carries signal.
  for (auto& p : model.params())
    if (p.trainable) test::fill_normal(p.value, fnv1a(p.name), p.init.kind == InitSpec::ones ? 0.3 : 0.4);
  for (auto& p : model.params())
    if (p.init.kind == InitSpec::ones)
      for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] += 1.0;

  StepContext ctx;
  ctx.batch = 2;
  ctx.seq_len = 5;
  ctx.training = true;
  ctx.loss_scale = 0.5;
  std::vector<int32_t> tokens(ctx.batch * (ctx.seq_len + 1));
  Rng rng(11);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(c.model.vocab_size));
  LocalDispatcher<double> dispatcher;

  auto objective = [&](const MicroBatchLoss& l) {
    return ctx.loss_scale *
           (l.ce_sum / double(l.tokens) + c.moe.aux_loss_coef * l.aux + c.moe.z_loss_coef * l.z);
  };
  model.params().zero_grad();
  const MicroBatchLoss first = model.forward_backward(be, ctx, tokens.data(), dispatcher);
  ASSERT_TRUE(std::isfinite(objective(first)));
  ASSERT_GT(first.aux, 0.0);
  std::map<std::string, std::vector<double>> analytic;
  for (auto& p : model.params()) analytic[p.name].assign(p.grad.data(), p.grad.data() + p.grad.numel());

  auto loss = [&] { return objective(model.forward_backward(be, ctx, tokens.data(), dispatcher)); };
  int checked = 0;
  for (auto& p : model.params()) {
    if (!p.trainable) continue;
    test::expect_gradient(std::string(c.name) + " " + p.name, p.value.data(), p.value.numel(),
                          analytic[p.name].data(), loss, 1e-5, 1e-8, 1e-6, 24);
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Presets, TransformerGrad, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Transformer, ParameterNamesFollowFairseq) {
  ModelCase c = cases()[0];
  Transformer<float> model(c.model, c.moe);
  auto& ps = model.params();
  for (const char* name :
       {"decoder/embed_tokens/weight", "decoder/layers/0/self_attn_layer_norm/weight",
        "decoder/layers/0/self_attn/q_proj/weight", "decoder/layers/0/self_attn/out_proj/bias",
        "decoder/layers/0/final_layer_norm/bias", "decoder/layers/0/fc1/weight", "decoder/layers/0/fc2/bias",
        "decoder/layers/1/moe_layer/gate/wg/weight", "decoder/layers/1/moe_layer/experts/3/fc1/weight",
        "decoder/layers/1/moe_layer/experts/0/fc2/bias", "decoder/layer_norm/weight"})
    EXPECT_NE(ps.find(name), nullptr) << name;
  EXPECT_EQ(ps.find("decoder/output_projection/weight"), nullptr);  // tied
  EXPECT_EQ(ps.find("decoder/embed_positions/weight"), nullptr);    // sinusoidal: not stored
}

}  // namespace
}  // namespace sy
