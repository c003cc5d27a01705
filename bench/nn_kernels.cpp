// bench/nn_kernels.cpp — activations, norms and cross-entropy of NnOps<float> at the bench models' shapes (GB/s).
//
// Shapes: N = 2048 tokens (8 × 256), d = 512, hidden 2048 (dense FFN), V = 8192.
// Work = bytes each call must move at least (reads + writes of float32), so
// GB/s compares against memory bandwidth; the formula is next to each row.
#include <cstdio>

#include "bench/kernel_common.h"

int main(int argc, char** argv) {
  using namespace sy;
  using namespace sy::bench;
  const Options opt = parse_options(argc, argv, "Micro-benchmarks of NnOps<float>: GELU, SwiGLU, norms, cross-entropy.\n");
  const int64_t N = 2048, d = 512, H = 2048, V = 8192, CE_ROWS = 256;
  Tensor<float> x({N, H}), u({N, H}), dy({N, H}), y({N, H}), dx({N, H});
  Tensor<float> xn({N, d}), w({d}), b({d}), yn({N, d}), dyn({N, d}), dxn({N, d}), mean({N}), rstd({N}), dw({d}),
      db({d});
  Tensor<float> logits({CE_ROWS, V}), grad({CE_ROWS, V});
  std::vector<int32_t> targets(CE_ROWS);
  fill_uniform(x, 1, 3.0f), fill_uniform(u, 2), fill_uniform(dy, 3), fill_uniform(xn, 4), fill_uniform(w, 5);
  fill_uniform(b, 6), fill_uniform(dyn, 7), fill_uniform(logits, 8, 4.0f);
  for (int64_t i = 0; i < CE_ROWS; ++i) targets[i] = int32_t((i * 2654435761u) % V);
  const double n = double(N * H), nd = double(N * d), f = sizeof(float);
  const std::string sh = std::to_string(N) + "x" + std::to_string(H), shn = std::to_string(N) + "x" + std::to_string(d);

  run_per_thread("nn_kernels", opt, [&](const Backend<float>& be) {
    const NnOps<float>& nn = *be.nn;
    std::vector<Measurement> ms;
    // read x, write y
    ms.push_back({"gelu.fwd", sh, Unit::bytes, 2 * n * f, {}, [&] { nn.gelu_forward(N * H, x.data(), y.data()); }});
    // read x, dy, write dx
    ms.push_back({"gelu.bwd", sh, Unit::bytes, 3 * n * f, {}, [&] { nn.gelu_backward(N * H, x.data(), dy.data(), dx.data()); }});
    // read gate, up, write y
    ms.push_back({"swiglu.fwd", sh, Unit::bytes, 3 * n * f, {}, [&] { nn.swiglu_forward(N * H, x.data(), u.data(), y.data()); }});
    // read gate, up, dy, write dgate, dup
    ms.push_back({"swiglu.bwd", sh, Unit::bytes, 5 * n * f, {}, [&] {
                    nn.swiglu_backward(N * H, x.data(), u.data(), dy.data(), dx.data(), y.data());
                  }});
    // read x, write y (+ N mean, rstd)
    ms.push_back({"layernorm.fwd", shn, Unit::bytes, 2 * nd * f, {}, [&] {
                    nn.layernorm_forward(N, d, xn.data(), w.data(), b.data(), 1e-5, yn.data(), mean.data(), rstd.data());
                  }});
    // read x, dy, write dx
    ms.push_back({"layernorm.bwd", shn, Unit::bytes, 3 * nd * f, {}, [&] {
                    nn.layernorm_backward(N, d, xn.data(), w.data(), mean.data(), rstd.data(), dyn.data(), dxn.data(),
                                          dw.data(), db.data());
                  }});
    ms.push_back({"rmsnorm.fwd", shn, Unit::bytes, 2 * nd * f, {}, [&] {
                    nn.rmsnorm_forward(N, d, xn.data(), w.data(), 1e-5, yn.data(), rstd.data());
                  }});
    ms.push_back({"rmsnorm.bwd", shn, Unit::bytes, 3 * nd * f, {}, [&] {
                    nn.rmsnorm_backward(N, d, xn.data(), w.data(), rstd.data(), dyn.data(), dxn.data(), dw.data());
                  }});
    // one LM-head chunk: read logits, write dlogits
    ms.push_back({"cross_entropy.grad", std::to_string(CE_ROWS) + "x" + std::to_string(V), Unit::bytes,
                  2.0 * CE_ROWS * V * f, {}, [&] {
                    nn.cross_entropy(CE_ROWS, V, logits.data(), targets.data(), 1e-3f, grad.data());
                  }});
    return ms;
  });
  return 0;
}
