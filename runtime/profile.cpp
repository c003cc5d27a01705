// runtime/profile.cpp — the per-thread state behind the scoped phase timers.
#include "runtime/profile.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sy::prof {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* profile_env() { return std::getenv("SWITCHYARD_PROFILE"); }

int initial_enabled() {
  const char* v = profile_env();
  return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
}

int g_enabled = -1;  // -1: not read yet

struct State {
  Totals totals;
  int current = 0;
  int backward = 0;
  int64_t since = 0;  // start of the running interval, attributed to `current`
};
thread_local State t_state;

void close_interval(State& s) {
  const int64_t t = now_ns();
  if (s.since != 0) s.totals.ns[s.current][s.backward] += t - s.since;
  s.since = t;
}

}  // namespace

const char* phase_name(Phase p) {
  static const char* const names[kPhases] = {
      "other",          "embedding", "norm",       "attn_proj", "attn_core", "residual",
      "router",         "dispatch_plan", "permute", "experts",  "combine",   "a2a_wait",     "shared_experts",
      "dense_mlp",      "activation", "lm_head",   "cross_entropy", "grad_sync", "grad_norm", "optimizer"};
  const int i = static_cast<int>(p);
  return i >= 0 && i < kPhases ? names[i] : "?";
}

bool enabled() {
  if (g_enabled < 0) g_enabled = initial_enabled();
  return g_enabled != 0;
}

void set_enabled(bool on) { g_enabled = on ? 1 : 0; }

bool every_rank_reports() {
  const char* v = profile_env();
  return enabled() && v != nullptr && std::strcmp(v, "all") == 0;
}

const Totals& totals() { return t_state.totals; }

void reset() {
  t_state.totals = Totals{};
  t_state.current = 0;
  t_state.since = now_ns();
}

void flush() { close_interval(t_state); }

void enter(Phase p, int& saved_phase) {
  State& s = t_state;
  close_interval(s);
  saved_phase = s.current;
  s.current = static_cast<int>(p);
  ++s.totals.calls[s.current][s.backward];
}

void leave(int saved_phase) {
  State& s = t_state;
  close_interval(s);
  s.current = saved_phase;
}

void print_report(std::FILE* out, int64_t steps, const char* who) {
  flush();
  const Totals& t = totals();
  const double per = steps > 0 ? 1e-6 / double(steps) : 1e-6;
  double total = 0;
  for (int p = 0; p < kPhases; ++p) total += double(t.ns[p][0] + t.ns[p][1]) * per;
  // One write for the whole table: with every rank reporting, tables do not interleave line by line.
  std::string text;
  char line[160];
  auto add = [&](int n) { text.append(line, static_cast<size_t>(std::min<int>(n, sizeof line - 1))); };
  add(std::snprintf(line, sizeof line, "profile%s%s (ms per step over %lld steps; 'fwd' = outside the backward)\n",
                    who ? " of " : "", who ? who : "", (long long)steps));
  add(std::snprintf(line, sizeof line, "%-16s %10s %10s %10s %7s\n", "phase", "fwd_ms", "bwd_ms", "total_ms", "share"));
  for (int p = 0; p < kPhases; ++p) {
    const double f = double(t.ns[p][0]) * per, b = double(t.ns[p][1]) * per;
    if (f + b == 0) continue;
    add(std::snprintf(line, sizeof line, "%-16s %10.1f %10.1f %10.1f %6.1f%%\n", phase_name(static_cast<Phase>(p)), f,
                      b, f + b, total > 0 ? 100.0 * (f + b) / total : 0.0));
  }
  add(std::snprintf(line, sizeof line, "%-16s %10s %10s %10.1f\n", "sum", "", "", total));
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

void set_backward(bool on) {
  if (!enabled()) return;
  close_interval(t_state);
  t_state.backward = on ? 1 : 0;
}

}  // namespace sy::prof
