// bench/harness.cpp — option parsing, timing loop, statistics and output of the shared benchmark harness.
#include "bench/harness.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace sy::bench {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char* prog, const std::string& extra, const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "%s: %s\n", prog, error.c_str());
  std::fprintf(stderr,
               "usage: %s [--threads 1,2] [--warmup N] [--reps N] [--min-ms X] [--filter STR] [--json]\n%s",
               prog, extra.c_str());
  std::exit(error.empty() ? 0 : 2);
}

int to_positive_int(const char* prog, const std::string& flag, const std::string& v, const std::string& extra) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 1 || x > 1 << 20) usage(prog, extra, flag + " wants a positive integer, got '" + v + "'");
  return static_cast<int>(x);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const char* unit_name(Unit u) { return u == Unit::flops ? "GFLOP/s" : "GB/s"; }

}  // namespace

Options parse_options(int argc, char** argv, const std::string& extra_help) {
  Options opt;
  const char* prog = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(prog, extra_help, a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") {
      opt.threads.clear();
      std::stringstream ss(value());
      for (std::string t; std::getline(ss, t, ',');) opt.threads.push_back(to_positive_int(prog, a, t, extra_help));
      if (opt.threads.empty()) usage(prog, extra_help, "--threads is empty");
    } else if (a == "--warmup") {
      std::string v = value();
      opt.warmup = v == "0" ? 0 : to_positive_int(prog, a, v, extra_help);
    } else if (a == "--reps") {
      opt.reps = to_positive_int(prog, a, value(), extra_help);
    } else if (a == "--min-ms") {
      std::string v = value();
      char* end = nullptr;
      opt.min_sample_ms = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || opt.min_sample_ms < 0) usage(prog, extra_help, "--min-ms wants a number >= 0");
    } else if (a == "--filter") {
      opt.filter = value();
    } else if (a == "--json") {
      opt.json = true;
    } else if (a == "-h" || a == "--help") {
      usage(prog, extra_help, "");
    } else {
      usage(prog, extra_help, "unknown flag '" + a + "'");
    }
  }
  return opt;
}

Result measure(const Measurement& m, const Options& opt, int threads) {
  if (m.setup) m.setup();
  for (int i = 0; i < opt.warmup; ++i) m.run();

  // Calibrate how many calls make one sample last min_sample_ms: one call is
  // timed, and the count is rounded up (at least 1).
  auto t0 = Clock::now();
  m.run();
  double one = seconds_since(t0);
  int calls = 1;
  if (one > 0 && one * 1e3 < opt.min_sample_ms) calls = std::min(100000, int(opt.min_sample_ms / (one * 1e3)) + 1);

  std::vector<double> per_call;
  per_call.reserve(opt.reps);
  for (int s = 0; s < opt.reps; ++s) {
    auto ts = Clock::now();
    for (int c = 0; c < calls; ++c) m.run();
    per_call.push_back(seconds_since(ts) / calls);
  }
  std::sort(per_call.begin(), per_call.end());
  size_t n = per_call.size();
  double median = n % 2 ? per_call[n / 2] : 0.5 * (per_call[n / 2 - 1] + per_call[n / 2]);

  Result r;
  r.name = m.name;
  r.shape = m.shape;
  r.unit = m.unit;
  r.threads = threads;
  r.samples = opt.reps;
  r.calls_per_sample = calls;
  r.median_s = median;
  r.min_s = per_call.front();
  r.rate_median = m.work / median * 1e-9;
  r.rate_best = m.work / r.min_s * 1e-9;
  return r;
}

void print_header(const std::string& bench, const Options& opt) {
  // The load average says how busy the shared machine was while measuring.
  double load[1] = {-1};
  getloadavg(load, 1);
  std::printf("# %s: warmup %d, %d samples (each >= %.0f ms), median and best per call; load average %.2f\n",
              bench.c_str(), opt.warmup, opt.reps, opt.min_sample_ms, load[0]);
  std::printf("%-28s %-18s %3s %6s %11s %11s %10s %10s %-7s\n", "name", "shape", "thr", "calls", "median_ms",
              "min_ms", "rate_med", "rate_best", "unit");
}

void print_row(const Result& r) {
  std::printf("%-28s %-18s %3d %6d %11.4f %11.4f %10.2f %10.2f %-7s\n", r.name.c_str(), r.shape.c_str(), r.threads,
              r.calls_per_sample, r.median_s * 1e3, r.min_s * 1e3, r.rate_median, r.rate_best, unit_name(r.unit));
  std::fflush(stdout);
}

void print_json(const std::string& bench, const Result& r) {
  const char* key = r.unit == Unit::flops ? "gflops" : "gbps";
  std::printf(
      "JSON {\"bench\":\"%s\",\"name\":\"%s\",\"shape\":\"%s\",\"threads\":%d,\"samples\":%d,\"calls_per_sample\":%d,"
      "\"median_ms\":%.6f,\"min_ms\":%.6f,\"%s_median\":%.3f,\"%s_best\":%.3f}\n",
      bench.c_str(), r.name.c_str(), r.shape.c_str(), r.threads, r.samples, r.calls_per_sample, r.median_s * 1e3,
      r.min_s * 1e3, key, r.rate_median, key, r.rate_best);
  std::fflush(stdout);
}

std::vector<Result> run_measurements(const std::string& bench, const std::vector<Measurement>& ms,
                                     const Options& opt, int threads) {
  std::vector<Result> out;
  for (const Measurement& m : ms) {
    if (!opt.filter.empty() && m.name.find(opt.filter) == std::string::npos) continue;
    out.push_back(measure(m, opt, threads));
    print_row(out.back());
    if (opt.json) print_json(bench, out.back());
  }
  return out;
}

namespace {
long long status_kib(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long long kib = 0;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) {
      kib = std::atoll(line + n);
      break;
    }
  std::fclose(f);
  return kib;
}
}  // namespace

long long peak_rss_bytes() { return status_kib("VmHWM:") * 1024; }
long long current_rss_bytes() { return status_kib("VmRSS:") * 1024; }

}  // namespace sy::bench
