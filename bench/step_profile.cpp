// bench/step_profile.cpp — where one training step's time goes (scoped phase timers), tokens/s, and peak RSS vs the analytic need.
//
//   build-release/bench/step_profile bench/configs/bench-fairseq.ini [--threads 2] [--warmup 2] [--steps 3]
//                                    [--section.key=value ...]
//
// Runs the real Trainer (one process, LocalCollectives) for warmup + steps steps
// with the phase timers of runtime/profile.h on, and prints per phase the
// milliseconds per step, forward and backward, and the share of the step.
// Memory: peak RSS (VmHWM) against the analytic bytes of `switchyard plan`
// (parameters + gradients + 2 AdamW moments + saved activations, launch/plan.cpp);
// target ratio ≤ 1.3.  The process's own baseline (binary, libraries, BLAS
// buffers: the RSS before the model is built) is printed too.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "comm/local_collectives.h"
#include "launch/config_schema.h"
#include "launch/plan.h"
#include "launch/trainer.h"
#include "runtime/profile.h"

namespace {

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "step_profile: %s\nusage: step_profile CONFIG.ini [--threads N] [--warmup N] [--steps N] "
               "[--section.key=value ...]\n", msg);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sy;
  if (argc < 2) usage("missing CONFIG.ini");
  const std::string ini = argv[1];
  int threads = 2, warmup = 2, steps = 3;
  std::vector<std::string> overrides;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return std::atoi(argv[++i]);
    };
    if (a == "--threads") threads = next();
    else if (a == "--warmup") warmup = next();
    else if (a == "--steps") steps = next();
    else if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) overrides.push_back(a);
    else usage(("unknown argument " + a).c_str());
  }
  if (threads < 1 || warmup < 0 || steps < 1) usage("--threads and --steps must be >= 1, --warmup >= 0");
  overrides.push_back("--parallel.threads=" + std::to_string(threads));
  overrides.push_back("--train.steps=" + std::to_string(warmup + steps));
  overrides.push_back("--log.metrics=");

  const long long rss_before = bench::current_rss_bytes();
  Config cfg = parse_config(ini, overrides);
  const RunPlan plan = make_plan(cfg, 1);
  LocalCollectives comm;
  Trainer trainer(cfg, comm);

  prof::set_enabled(true);
  double tok_s_sum = 0, step_ms_sum = 0;
  std::vector<double> tok_s;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) prof::reset();
    const StepStats st = trainer.train_step();
    if (s >= warmup) {
      tok_s.push_back(st.tokens_per_s);
      tok_s_sum += st.tokens_per_s;
      step_ms_sum += st.step_ms;
    }
  }
  prof::flush();
  std::sort(tok_s.begin(), tok_s.end());
  const double tok_s_median = tok_s[tok_s.size() / 2];
  const double step_ms = step_ms_sum / steps;

  double load[1] = {-1};
  getloadavg(load, 1);
  std::printf("# step_profile %s: %d threads, %d warm-up + %d timed steps, %lld tokens/step, load average %.2f\n",
              ini.c_str(), threads, warmup, steps,
              (long long)(int64_t(cfg.train.micro_batch) * cfg.train.seq_len * cfg.train.grad_accum), load[0]);
  const prof::Totals& t = prof::totals();
  double total_ms = 0;
  for (int p = 0; p < prof::kPhases; ++p) total_ms += double(t.ns[p][0] + t.ns[p][1]) * 1e-6 / steps;
  std::printf("%-16s %10s %10s %10s %7s\n", "phase", "fwd_ms", "bwd_ms", "total_ms", "share");
  std::string json = "{\"bench\":\"step_profile\",\"config\":\"" + ini + "\",\"threads\":" + std::to_string(threads);
  for (int p = 0; p < prof::kPhases; ++p) {
    const double f = double(t.ns[p][0]) * 1e-6 / steps, b = double(t.ns[p][1]) * 1e-6 / steps;
    if (f + b == 0) continue;
    const char* name = prof::phase_name(static_cast<prof::Phase>(p));
    std::printf("%-16s %10.1f %10.1f %10.1f %6.1f%%\n", name, f, b, f + b, 100.0 * (f + b) / total_ms);
    char buf[128];
    std::snprintf(buf, sizeof buf, ",\"%s_ms\":[%.2f,%.2f]", name, f, b);
    json += buf;
  }
  std::printf("%-16s %10s %10s %10.1f %6.1f%%   (trainer step_ms %.1f)\n", "sum", "", "", total_ms, 100.0, step_ms);
  const long long peak = bench::peak_rss_bytes();
  const double ratio = double(peak) / double(plan.per_rank_bytes());
  std::printf("tokens/s median %.1f (mean %.1f)\n", tok_s_median, tok_s_sum / steps);
  std::printf("memory: peak RSS %.1f MiB; analytic %.1f MiB (params %.1f + grads %.1f + AdamW %.1f + activations "
              "%.1f + bf16 copies %.1f); ratio %.3f (target <= 1.3); RSS before the model %.1f MiB\n",
              peak / 1048576.0, plan.per_rank_bytes() / 1048576.0,
              (plan.dense_bytes + plan.expert_shard_bytes) / 1048576.0, plan.grad_bytes / 1048576.0,
              plan.optimizer_bytes / 1048576.0, plan.activation_bytes / 1048576.0,
              plan.bf16_copy_bytes / 1048576.0, ratio, rss_before / 1048576.0);
  char tail[512];
  std::snprintf(tail, sizeof tail,
                ",\"step_ms\":%.2f,\"tokens_per_s\":%.2f,\"peak_rss_bytes\":%lld,\"analytic_bytes\":%lld,"
                "\"rss_ratio\":%.4f,\"rss_before_bytes\":%lld}",
                step_ms, tok_s_median, peak, (long long)plan.per_rank_bytes(), ratio, rss_before);
  std::printf("JSON %s%s\n", json.c_str(), tail);
  return 0;
}
