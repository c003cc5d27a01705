// bench/attention_kernels.cpp — blocked causal attention forward/backward and RoPE of AttentionOps<float> (GFLOP/s).
//
// Shape of one bench-model layer: B = 8 sequences, S = 256, H = 8 heads, D = 64.
// FLOPs (causal, counting the S(S+1)/2 kept scores):
//   forward  = 4·B·H·D·S(S+1)/2        (q·kᵀ and P·v: 2 FLOPs per multiply-add each)
//   backward = 2.5 × forward = 10·B·H·D·S(S+1)/2   (recomputed q·kᵀ, dout·vᵀ, dq, dk, dv)
// RoPE is reported in GB/s: read + write of q (B·S·H·D floats).
#include "bench/kernel_common.h"

int main(int argc, char** argv) {
  using namespace sy;
  using namespace sy::bench;
  const Options opt = parse_options(argc, argv, "Micro-benchmarks of AttentionOps<float>: causal attention, RoPE.\n");
  const int64_t B = 8, S = 256, H = 8, D = 64, n = B * S * H * D;
  Tensor<float> q({n}), k({n}), v({n}), out({n}), lse({B * H * S}), dout({n}), dq({n}), dk({n}), dv({n});
  fill_uniform(q, 1), fill_uniform(k, 2), fill_uniform(v, 3), fill_uniform(dout, 4);
  const double pairs = double(S) * double(S + 1) / 2;
  const double fwd = 4.0 * B * H * D * pairs;
  const std::string sh = "B8 S256 H8 D64";
  run_per_thread("attention_kernels", opt, [&](const Backend<float>& be) {
    const AttentionOps<float>& at = *be.attn;
    std::vector<Measurement> ms;
    ms.push_back({"attention.fwd", sh, Unit::flops, fwd, {}, [&] {
                    at.attention_forward(B, S, H, H, D, q.data(), k.data(), v.data(), out.data(), lse.data());
                  }});
    ms.push_back({"attention.bwd", sh, Unit::flops, 2.5 * fwd,
                  [&] { at.attention_forward(B, S, H, H, D, q.data(), k.data(), v.data(), out.data(), lse.data()); },
                  [&] {
                    at.attention_backward(B, S, H, H, D, q.data(), k.data(), v.data(), out.data(), lse.data(),
                                          dout.data(), dq.data(), dk.data(), dv.data());
                  }});
    ms.push_back({"rope.fwd", sh, Unit::bytes, 2.0 * n * sizeof(float), {},
                  [&] { at.rope_forward(B, S, H, D, 10000.0, q.data()); }});
    return ms;
  });
  return 0;
}
