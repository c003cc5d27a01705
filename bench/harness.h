// bench/harness.h — the shared benchmark harness: Measurement (name, work formula, setup, run), timing, table and JSON output.
//
// Modelled on nccl-tests: every benchmark file fills in a few Measurement
// structs and hands them to run_measurements(); the harness owns warm-up,
// repetitions, statistics and the output format, so all benchmarks print the
// same table.  The machine is shared and noisy, so the figure to quote is the
// median; the best (min time) shows what the hardware reached at least once.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace sy::bench {

// Command-line options common to every benchmark.
//   --threads LIST  comma list of thread counts, e.g. 1,2   [1]
//   --warmup N      untimed runs before measuring           [2]
//   --reps N        timed samples; median and min over them [10]
//   --min-ms X      a sample repeats run() until it lasts at least X ms, so
//                   tiny kernels are not dominated by the clock      [20]
//   --filter STR    only measurements whose name contains STR
//   --json          also print one JSON object per measurement (prefix "JSON ")
struct Options {
  std::vector<int> threads{1};
  int warmup = 2;
  int reps = 10;
  double min_sample_ms = 20.0;
  std::string filter;
  bool json = false;
};

// Parses the options above; prints usage and exits(2) on a bad flag.
// `extra_help` is appended to the usage text (benchmark-specific notes).
Options parse_options(int argc, char** argv, const std::string& extra_help = "");

enum class Unit { flops, bytes };

// One thing measured.  `work` is the FLOPs (or bytes) one call of run() does;
// write its formula next to where the struct is filled in.
struct Measurement {
  std::string name;    // row label, unique within a benchmark
  std::string shape;   // human-readable size, e.g. "2048x512x2048"
  Unit unit = Unit::flops;
  double work = 0;
  std::function<void()> setup;  // untimed, called once before warm-up (may be empty)
  std::function<void()> run;    // the timed body
};

struct Result {
  std::string name, shape;
  Unit unit = Unit::flops;
  int threads = 0;
  int samples = 0;
  int calls_per_sample = 0;
  double median_s = 0;  // per call
  double min_s = 0;     // per call
  double rate_median = 0;  // GFLOP/s or GB/s at the median time
  double rate_best = 0;    // at the min time
};

// Times one measurement at the current thread setting (the caller sets the
// library's thread count; `threads` is only recorded).
Result measure(const Measurement& m, const Options& opt, int threads);

// Fixed-width table: one header per benchmark, one row per result.
void print_header(const std::string& bench, const Options& opt);
void print_row(const Result& r);
// One line `JSON {...}` with every field of the result and the benchmark name.
void print_json(const std::string& bench, const Result& r);

// Runs every measurement whose name matches the filter, prints its row (and
// JSON line when asked) and returns the results in order.
std::vector<Result> run_measurements(const std::string& bench, const std::vector<Measurement>& ms,
                                     const Options& opt, int threads);

// Peak resident set of this process so far (VmHWM of /proc/self/status), in bytes; 0 if unreadable.
long long peak_rss_bytes();
// Resident set now (VmRSS), in bytes; 0 if unreadable.
long long current_rss_bytes();

}  // namespace sy::bench
