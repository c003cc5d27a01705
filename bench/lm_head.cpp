// bench/lm_head.cpp — LmHead<float>::forward_backward (logits GEMM, cross-entropy, dW and dh GEMMs) per chunk size.
//
// Shape: N = 2048 tokens (8 × 256), d = 512, V = 8192 (the bench configs' LM head).
// Work = 3 GEMMs of 2·N·d·V FLOPs each (logits, dWout, dh), so GFLOP/s compares
// against gemm_ceiling; the cross-entropy between them is counted as free.
#include <cstdio>

#include "bench/kernel_common.h"
#include "model/lm_head.h"

int main(int argc, char** argv) {
  using namespace sy;
  using namespace sy::bench;
  const Options opt = parse_options(argc, argv, "LmHead<float>::forward_backward at chunk_rows 128 … 2048.\n");
  const int64_t N = 2048, d = 512, V = 8192;
  ModelConfig cfg;
  cfg.vocab_size = V, cfg.d_model = d, cfg.tie_embeddings = false;
  ParameterSet<float> params;
  LmHead<float> head(params, cfg, nullptr);
  fill_uniform(head.output_weight()->value, 1, 0.02f);
  Tensor<float> h({N, d}), dh({N, d});
  fill_uniform(h, 2);
  std::vector<int32_t> targets(N);
  for (int64_t i = 0; i < N; ++i) targets[i] = int32_t((i * 2654435761u) % V);
  const std::string shape = std::to_string(N) + "x" + std::to_string(d) + "x" + std::to_string(V);

  run_per_thread("lm_head", opt, [&](const Backend<float>& be) {
    std::vector<Measurement> ms;
    for (int64_t rows : {128, 256, 512, 1024, 2048})
      ms.push_back({"lm_head.chunk" + std::to_string(rows), shape, Unit::flops, 3 * 2.0 * N * d * V,
                    [&head, rows] { head.set_chunk_rows(rows); }, [&] {
                      head.forward_backward(be, h.data(), targets.data(), N, 1.0f / N, dh.data());
                    }});
    return ms;
  });
  return 0;
}
