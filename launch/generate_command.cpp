// launch/generate_command.cpp — `switchyard generate`: continue a text prompt with a byte-level model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "launch/checkpointing.h"
#include "launch/commands.h"
#include "model/transformer.h"

namespace sy {

namespace {

// Greedy when temperature == 0; otherwise softmax(logits / temperature) restricted
// to the smallest set of tokens whose probability mass reaches top_p.
int32_t sample_token(const std::vector<float>& logits, double temperature, double top_p, Rng& rng) {
  const int V = static_cast<int>(logits.size());
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(V);
  double total = 0;
  for (int v = 0; v < V; ++v) total += p[v] = std::exp((logits[v] - max_logit) / temperature);
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  double mass = 0;
  int keep = 0;
  while (keep < V && mass < top_p * total) mass += p[order[keep++]];
  double u = rng.uniform() * mass;
  for (int i = 0; i < keep; ++i)
    if ((u -= p[order[i]]) <= 0) return order[i];
  return order[keep - 1];
}

}  // namespace

int generate_command(const CliCommand& cmd) {
  CheckpointReader reader(cmd.ckpt);
  const Config cfg = stored_config(reader);
  if (cfg.model.vocab_size < 256)
    throw ConfigError("generate works on byte-level models (model.vocab_size >= 256); this checkpoint has " +
                      std::to_string(cfg.model.vocab_size));
  auto be = make_cpu_backend<float>(cfg.parallel.threads, cfg.train.precision);
  Transformer<float> model(cfg.model, cfg.moe);
  load_parameters(reader, model.params());
  LocalDispatcher<float> dispatcher;

  std::vector<int32_t> ids;
  for (unsigned char c : cmd.prompt) ids.push_back(c);
  std::fputs(cmd.prompt.c_str(), stdout);
  // The context is the last max_seq_len tokens (no KV cache: each token re-runs the window).
  const int64_t window = cfg.model.max_seq_len;
  std::vector<float> logits(cfg.model.vocab_size);
  Rng rng(static_cast<uint64_t>(cmd.seed), fnv1a("generate"));
  for (int i = 0; i < cmd.tokens; ++i) {
    const int64_t len = std::min<int64_t>(window, static_cast<int64_t>(ids.size()));
    StepContext ctx;
    ctx.batch = 1;
    ctx.seq_len = len;
    ctx.training = false;
    model.last_logits(be, ctx, ids.data() + ids.size() - len, logits.data(), dispatcher);
    const int32_t next = sample_token(logits, cmd.temperature, cmd.top_p, rng);
    ids.push_back(next);
    std::fputc(next < 256 ? next : '?', stdout);
    std::fflush(stdout);
  }
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace sy
