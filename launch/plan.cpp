// launch/plan.cpp — parameter counts that mirror the model's ParameterSet exactly, and the memory and
// traffic estimates built on them.
#include "launch/plan.h"

#include <algorithm>
#include <cstdio>

#include "model/lm_head.h"

namespace sy {

namespace {

int64_t linear(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
int64_t norm(const ModelConfig& m) { return m.norm == NormKind::layernorm ? 2 * m.d_model : m.d_model; }
int64_t mlp(const ModelConfig& m, int64_t hidden) {
  const int64_t mats = m.activation == Activation::swiglu ? 3 : 2;
  // fc1 and fc3: d → hidden (+bias hidden); fc2: hidden → d (+bias d).
  return (mats - 1) * linear(m.d_model, hidden, m.bias) + linear(hidden, m.d_model, m.bias);
}

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}
std::string billions(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fB", double(n) / 1e9);
  return buf;
}

}  // namespace

RunPlan make_plan(const Config& cfg, int world_size) {
  const ModelConfig& m = cfg.model;
  const MoeConfig& moe = cfg.moe;
  RunPlan p;
  p.world_size = world_size;
  p.ep = cfg.parallel.ep;
  const int64_t d = m.d_model, dh = m.d_head(), hq = m.n_heads, hkv = m.kv_heads();
  const int64_t d_expert = moe.d_expert > 0 ? moe.d_expert : m.d_ff;
  const int64_t E = moe.num_experts;

  int64_t dense = int64_t(m.vocab_size) * d;                          // embed_tokens
  if (!m.tie_embeddings) dense += int64_t(m.vocab_size) * d;          // output_projection
  if (m.positions == Positions::learned) dense += int64_t(m.max_seq_len + m.position_offset) * d;
  dense += norm(m);                                                   // decoder/layer_norm
  int64_t active_extra = 0, moe_layers = 0;
  for (int l = 0; l < m.n_layers; ++l) {
    dense += 2 * norm(m) + linear(d, hq * dh, m.bias) + 2 * linear(d, hkv * dh, m.bias) + linear(hq * dh, d, m.bias);
    if (!m.is_moe_layer(l)) {
      dense += mlp(m, m.d_ff);
      continue;
    }
    ++moe_layers;
    dense += E * d + moe.shared_experts * mlp(m, d_expert);  // router (no bias) + shared experts
    p.params_expert += mlp(m, d_expert);
    active_extra += moe.top_k * mlp(m, d_expert);
  }
  p.params_dense = dense;
  p.params_total = dense + E * p.params_expert;
  p.params_active = dense + active_extra;
  p.experts_per_rank = moe_layers > 0 && p.ep > 0 ? E / p.ep : 0;

  const int64_t shard = p.experts_per_rank * p.params_expert;
  p.dense_bytes = 4 * dense;
  p.expert_shard_bytes = 4 * shard;
  p.grad_bytes = 4 * (dense + shard);
  p.optimizer_bytes = 8 * (dense + shard);
  // The input embedding table is read by lookups, not GEMMs (tied, it is the LM head's GEMM weight too).
  if (cfg.train.precision == Precision::bf16)
    p.bf16_copy_bytes = 4 * (dense + shard - (m.tie_embeddings ? 0 : int64_t(m.vocab_size) * d));

  // Activations kept for the backward of one micro-batch (N tokens), as this
  // implementation saves them: per block the residual input, Norm1 output,
  // post-attention stream and Norm2 output (4·N·d), q/k/v/attention output
  // (N·dh·(2·Hq + 2·Hkv)), the FFN's saved hidden (3 or 4 ·N·hidden); routed
  // experts see N·k rows; plus one LM-head chunk of min(N, LmHead's default chunk rows) × V.
  const int64_t N = int64_t(cfg.train.micro_batch) * cfg.train.seq_len;
  const int64_t ffn_saves = m.activation == Activation::swiglu ? 4 : 3;
  int64_t act = 0;
  for (int l = 0; l < m.n_layers; ++l) {
    act += 4 * N * d + N * dh * (2 * hq + 2 * hkv);
    if (m.is_moe_layer(l))
      act += N * moe.top_k * (2 * d + ffn_saves * d_expert) + moe.shared_experts * N * ffn_saves * d_expert + N * E * 3;
    else
      act += N * ffn_saves * m.d_ff;
  }
  act += 4 * N * d + std::min(N, LmHead<float>::default_chunk_rows(m.vocab_size)) * int64_t(m.vocab_size);
  p.activation_bytes = 4 * act;

  // Traffic per optimizer step and rank: each MoE layer moves its N·k rows of d
  // floats four times (dispatch, combine, and both in the backward); a fraction
  // (ep − 1)/ep of them leaves the rank under uniform routing.
  const int64_t micro = cfg.train.grad_accum;
  const double leaving = p.ep > 1 ? double(p.ep - 1) / p.ep : 0.0;
  p.a2a_bytes_per_step = static_cast<int64_t>(micro * moe_layers * 4.0 * N * moe.top_k * d * 4 * leaving);
  // Gradient all-reduce payload: dense over the world, the shard over its expert-DP replicas.
  const int dp = p.ep > 0 ? world_size / p.ep : 1;
  p.allreduce_bytes_per_step = (world_size > 1 ? 4 * dense : 0) + (dp > 1 ? 4 * shard : 0);
  return p;
}

std::string plan_text(const RunPlan& p, const Config& cfg, double memory_gib) {
  std::string s;
  char buf[256];
  std::snprintf(buf, sizeof buf, "parameters: %s total, %s active per token (dense %s, %d experts × %s per MoE layer set)\n",
                billions(p.params_total).c_str(), billions(p.params_active).c_str(), billions(p.params_dense).c_str(),
                cfg.moe.num_experts, billions(p.params_expert).c_str());
  s += buf;
  std::snprintf(buf, sizeof buf, "layout: %d ranks, ep %d: %lld experts of every MoE layer per rank (file model-rank-N.h5 holds the same)\n",
                p.world_size, p.ep, (long long)p.experts_per_rank);
  s += buf;
  s += "per rank (fp32):\n";
  s += "  dense replica      " + gib(p.dense_bytes) + "\n";
  s += "  expert shard       " + gib(p.expert_shard_bytes) + "\n";
  s += "  gradients          " + gib(p.grad_bytes) + "\n";
  s += "  AdamW moments      " + gib(p.optimizer_bytes) + "\n";
  if (p.bf16_copy_bytes) s += "  bf16 weight copies " + gib(p.bf16_copy_bytes) + "\n";
  std::snprintf(buf, sizeof buf, "  activations        %s (micro_batch %d × seq_len %d)\n", gib(p.activation_bytes).c_str(),
                cfg.train.micro_batch, cfg.train.seq_len);
  s += buf;
  s += "  total              " + gib(p.per_rank_bytes()) + "\n";
  s += "per step and rank: all-to-all " + gib(p.a2a_bytes_per_step) + ", gradient all-reduce " +
       gib(p.allreduce_bytes_per_step) + "\n";
  if (memory_gib > 0) {
    const double need = double(p.per_rank_bytes()) / (1024.0 * 1024 * 1024);
    std::snprintf(buf, sizeof buf, need <= memory_gib ? "fits: %.2f GiB of %.2f GiB per rank\n"
                                                      : "WARNING: does not fit: needs %.2f GiB per rank, %.2f GiB available\n",
                  need, memory_gib);
    s += buf;
  }
  return s;
}

std::string plan_json(const RunPlan& p, double memory_gib) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"world_size\":%d,\"ep\":%d,\"params_total\":%lld,\"params_active\":%lld,\"params_dense\":%lld,"
                "\"experts_per_rank\":%lld,\"per_rank_bytes\":%lld,\"dense_bytes\":%lld,\"expert_shard_bytes\":%lld,"
                "\"grad_bytes\":%lld,\"optimizer_bytes\":%lld,\"activation_bytes\":%lld,\"bf16_copy_bytes\":%lld,\"a2a_bytes_per_step\":%lld,"
                "\"allreduce_bytes_per_step\":%lld%s}",
                p.world_size, p.ep, (long long)p.params_total, (long long)p.params_active, (long long)p.params_dense,
                (long long)p.experts_per_rank, (long long)p.per_rank_bytes(), (long long)p.dense_bytes,
                (long long)p.expert_shard_bytes, (long long)p.grad_bytes, (long long)p.optimizer_bytes,
                (long long)p.activation_bytes, (long long)p.bf16_copy_bytes, (long long)p.a2a_bytes_per_step, (long long)p.allreduce_bytes_per_step,
                memory_gib > 0 ? (std::string(",\"fits\":") +
                                  (double(p.per_rank_bytes()) <= memory_gib * 1024 * 1024 * 1024 ? "true" : "false"))
                                     .c_str()
                               : "");
  return buf;
}

}  // namespace sy
