// bench/moe_kernels.cpp — router and permutation kernels of MoeOps<float> at the bench-olmoe shape (GB/s).
//
// N = 2048 tokens, d = 512, E = 32 experts, top-4: M = N·k = 8192 routed rows.
// Work = bytes moved at least: router kernels read/write the [N, E] logits/probs;
// gather/scatter/combine move M rows of d floats (read + write; scatter and
// combine read the destination row too).
#include <numeric>

#include "bench/kernel_common.h"

int main(int argc, char** argv) {
  using namespace sy;
  using namespace sy::bench;
  const Options opt = parse_options(argc, argv, "Micro-benchmarks of MoeOps<float>: router softmax/top-k/backward, gather, scatter, combine.\n");
  const int64_t N = 2048, d = 512, E = 32;
  const int k = 4;
  const int64_t M = N * k;
  Tensor<float> logits({N, E}), probs({N, E}), lse({N}), gate({N, k}), dgate({N, k}), dlogits({N, E});
  Tensor<float> u({N, d}), rows({M, d}), y({N, d}), drows({M, d});
  std::vector<int32_t> expert(N * k), token(M), assignment(M);
  fill_uniform(logits, 1, 2.0f), fill_uniform(u, 2), fill_uniform(rows, 3), fill_uniform(dgate, 4);
  // An expert-sorted permutation like a dispatch plan's: row i holds token (i·7919) mod N.
  for (int64_t i = 0; i < M; ++i) token[i] = int32_t((i * 7919) % N), assignment[i] = int32_t(i);
  const double f = sizeof(float);
  const std::string sr = std::to_string(N) + "x" + std::to_string(E), sp = std::to_string(M) + "x" + std::to_string(d);
  run_per_thread("moe_kernels", opt, [&](const Backend<float>& be) {
    const MoeOps<float>& moe = *be.moe;
    moe.router_softmax(N, E, logits.data(), probs.data(), lse.data());
    moe.router_topk(N, E, k, probs.data(), probs.data(), nullptr, false, expert.data(), gate.data());
    std::vector<Measurement> ms;
    // read logits, write probs
    ms.push_back({"router.softmax", sr, Unit::bytes, 2.0 * N * E * f, {}, [&] {
                    moe.router_softmax(N, E, logits.data(), probs.data(), lse.data());
                  }});
    // read probs
    ms.push_back({"router.topk", sr + " k4", Unit::bytes, 1.0 * N * E * f, {}, [&] {
                    moe.router_topk(N, E, k, probs.data(), probs.data(), nullptr, false, expert.data(), gate.data());
                  }});
    // read probs
    ms.push_back({"router.statistics", sr, Unit::bytes, 1.0 * N * E * f, {}, [&] {
                    double ps[E], z, h;
                    moe.router_statistics(N, E, probs.data(), lse.data(), ps, &z, &h);
                  }});
    // read probs, write dlogits
    ms.push_back({"router.backward", sr, Unit::bytes, 2.0 * N * E * f, {}, [&] {
                    moe.router_backward(N, E, k, probs.data(), lse.data(), expert.data(), dgate.data(), false,
                                        nullptr, 1e-3f, dlogits.data());
                  }});
    // read M source rows, write M rows
    ms.push_back({"gather_rows", sp, Unit::bytes, 2.0 * M * d * f, {}, [&] {
                    moe.gather_rows(M, d, token.data(), u.data(), rows.data());
                  }});
    // read M rows, read + write M destination rows
    ms.push_back({"scatter_add_rows", sp, Unit::bytes, 3.0 * M * d * f, {}, [&] {
                    moe.scatter_add_rows(M, d, token.data(), rows.data(), y.data());
                  }});
    ms.push_back({"combine_rows", sp, Unit::bytes, 3.0 * M * d * f, {}, [&] {
                    moe.combine_rows(M, d, token.data(), assignment.data(), gate.data(), rows.data(), y.data());
                  }});
    // read M rows + M dy rows, write M drows
    ms.push_back({"combine_rows.bwd", sp, Unit::bytes, 3.0 * M * d * f, {}, [&] {
                    moe.combine_rows_backward(M, d, token.data(), assignment.data(), gate.data(), rows.data(),
                                              y.data(), drows.data(), dgate.data());
                  }});
    return ms;
  });
  return 0;
}
