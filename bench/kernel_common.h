// bench/kernel_common.h — helpers shared by the per-kernel micro-benchmarks: filled tensors and the thread loop.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace sy::bench {

// Deterministic values in [-scale, scale) (an LCG: benchmarks need no quality).
inline void fill_uniform(Tensor<float>& t, uint64_t seed, float scale = 1.0f) {
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    t[i] = scale * (float((s >> 40) & 0xFFFFFF) / float(1 << 23) - 1.0f);
  }
}

// For each --threads value: a CPU backend with that many threads (BLAS and loop
// threads), the measurements `make` builds for it, and their rows.
inline void run_per_thread(const std::string& bench, const Options& opt,
                           const std::function<std::vector<Measurement>(const Backend<float>&)>& make) {
  print_header(bench, opt);
  for (int threads : opt.threads) {
    Backend<float> be = make_cpu_backend<float>(threads);
    run_measurements(bench, make(be), opt, threads);
  }
}

}  // namespace sy::bench
