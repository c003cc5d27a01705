// bench/core_kernels.cpp — the optimizer-side and residual kernels of CoreOps<float>: AdamW, Σx², add (GB/s).
//
// n = 16M floats (64 MiB per tensor: larger than cache, like the bench models'
// 80–116 M parameters).  Work = bytes read + written per call.
#include "bench/kernel_common.h"

int main(int argc, char** argv) {
  using namespace sy;
  using namespace sy::bench;
  const Options opt = parse_options(argc, argv, "Micro-benchmarks of CoreOps<float>: AdamW, sum_squares, add.\n");
  const int64_t n = int64_t(1) << 24;
  Tensor<float> p({n}), g({n}), m({n}), v({n}), a({n}), c({n});
  fill_uniform(p, 1), fill_uniform(g, 2, 1e-2f), fill_uniform(a, 3);
  const double f = sizeof(float);
  const std::string sh = "16M";
  volatile double sink = 0;
  run_per_thread("core_kernels", opt, [&](const Backend<float>& be) {
    const CoreOps<float>& core = *be.core;
    std::vector<Measurement> ms;
    // read p, g, m, v; write p, m, v
    ms.push_back({"adamw", sh, Unit::bytes, 7 * n * f, {}, [&] {
                    core.adamw(n, p.data(), g.data(), m.data(), v.data(), 1e-4, 0.9, 0.95, 1e-8, 0.1, 10, 0.5);
                  }});
    // read x
    ms.push_back({"sum_squares", sh, Unit::bytes, n * f, {}, [&] { sink = sink + core.sum_squares(n, g.data()); }});
    // read a, b; write out
    ms.push_back({"add", sh, Unit::bytes, 3 * n * f, {}, [&] { core.add(n, a.data(), g.data(), c.data()); }});
    return ms;
  });
  return 0;
}
