// launch/plan.h — RunPlan: parameters, memory per rank and bytes moved per step of a config on W ranks,
// computed analytically (no model is built, so it sizes models far larger than this machine).
#pragma once
#include <cstdint>
#include <string>

#include "runtime/config.h"

namespace sy {

struct RunPlan {
  int world_size = 1, ep = 1;
  int64_t params_total = 0;   // every parameter, every expert once
  int64_t params_active = 0;  // used by one token: dense + router + top_k routed + shared experts
  int64_t params_dense = 0;   // the replica every rank holds (embeddings, attention, norms, dense FFNs, routers, shared experts)
  int64_t params_expert = 0;  // one routed expert of every MoE layer, summed over MoE layers: E·this is the routed total
  int64_t experts_per_rank = 0;  // L = E / ep, per MoE layer
  // Bytes one rank holds (fp32 everywhere: parameters, gradients, AdamW's two moments).
  int64_t dense_bytes = 0, expert_shard_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  // train.precision = bf16: the packed bf16 copies of the GEMM weights (two
  // layouts, 2 bytes each, per weight element; an upper bound: biases and norm
  // weights are counted although they get none).  0 for fp32.
  int64_t bf16_copy_bytes = 0;
  int64_t per_rank_bytes() const {
    return dense_bytes + expert_shard_bytes + grad_bytes + optimizer_bytes + activation_bytes + bf16_copy_bytes;
  }
  // Bytes one rank sends per optimizer step: all-to-all payload (dispatch + combine, forward and
  // backward, rows leaving the rank under uniform routing) and gradient all-reduce payload.
  int64_t a2a_bytes_per_step = 0;
  int64_t allreduce_bytes_per_step = 0;
};

RunPlan make_plan(const Config& cfg, int world_size);
// The human-readable report (memory_gib > 0 adds the fits / does not fit verdict).
std::string plan_text(const RunPlan& p, const Config& cfg, double memory_gib);
// One JSON object with at least params_total, params_active, per_rank_bytes, a2a_bytes_per_step,
// allreduce_bytes_per_step.
std::string plan_json(const RunPlan& p, double memory_gib);

}  // namespace sy
