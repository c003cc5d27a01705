// bench/gemm_ceiling.cpp — the best fp32 GEMM rate the project's BLAS reaches here: the MFU denominator.
//
// FLOPs of C[M,N] = op(A)[M,K]·op(B)[K,N]: 2·M·N·K (one multiply and one add
// per term; beta = 0 so C is not read).
//
// Each shape runs twice: through the CPU backend's CoreOps<float>::gemm (what
// the model calls) and as a direct cblas_sgemm (to show the backend adds
// nothing).  The ceiling is the highest median rate over all backend shapes at
// a given thread count.  Transformer shapes assume a micro-batch of 2048
// tokens (8 × 256), d_model 512, d_ff 2048 (the bench configs in bench/configs/).
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "runtime/backend.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace {

struct GemmShape {
  std::string name;
  bool trans_a, trans_b;
  int64_t M, N, K;
};

std::vector<GemmShape> shapes() {
  std::vector<GemmShape> s;
  for (int64_t n : {256, 512, 1024, 1536, 2048}) s.push_back({"square." + std::to_string(n), false, false, n, n, n});
  const int64_t tokens = 2048, d = 512, ff = 2048, vocab = 8192;
  // Linear layers are y = x·Wᵀ with W [out, in] (torch layout): forward is NT,
  // the input gradient dX = dY·W is NN, the weight gradient dW = dYᵀ·X is TN.
  s.push_back({"attn.qkv.fwd", false, true, tokens, 3 * d, d});
  s.push_back({"attn.out.fwd", false, true, tokens, d, d});
  s.push_back({"attn.scores.fwd", false, true, 256, 256, d / 8});  // one (sequence, head): T×T×d_head
  s.push_back({"ffn.fc1.fwd", false, true, tokens, ff, d});
  s.push_back({"ffn.fc2.fwd", false, true, tokens, d, ff});
  s.push_back({"ffn.fc2.bwd_data", false, false, tokens, ff, d});
  s.push_back({"ffn.fc1.bwd_weight", true, false, ff, d, tokens});
  s.push_back({"expert.top2of16.fc1", false, true, tokens * 2 / 16, ff, d});      // 256 rows per expert
  s.push_back({"expert.top4of32.fc1", false, true, tokens * 4 / 32, ff / 4, d});  // fine-grained, d_expert = ff/4
  s.push_back({"lm_head.fwd", false, true, tokens, vocab, d});
  return s;
}

std::string shape_label(const GemmShape& g) {
  return std::to_string(g.M) + "x" + std::to_string(g.N) + "x" + std::to_string(g.K) + " " + (g.trans_a ? "T" : "N") +
         (g.trans_b ? "T" : "N");
}

void fill(sy::Tensor<float>& t, uint64_t seed) {
  sy::Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = float(rng.normal());
}

struct Buffers {
  sy::Tensor<float> a, b, c;
};

}  // namespace

int main(int argc, char** argv) {
  sy::bench::Options opt = sy::bench::parse_options(
      argc, argv, "Prints the fp32 GEMM ceiling (max median GFLOP/s over shapes) per thread count.\n");

  // Buffers live across thread counts; allocated once per shape on first setup.
  std::vector<GemmShape> gs = shapes();
  std::vector<Buffers> bufs(gs.size());

  char* config = openblas_get_config();
  std::printf("# BLAS: %s; core %s\n", config, openblas_get_corename());
  sy::bench::print_header("gemm_ceiling", opt);

  struct Ceiling {
    int threads = 0;
    double backend_gflops = 0, cblas_gflops = 0, best_gflops = 0;
    std::string backend_shape;
  };
  std::vector<Ceiling> ceilings;

  for (int threads : opt.threads) {
    sy::Backend<float> be = sy::make_cpu_backend<float>(threads);  // sets the BLAS thread count
    const sy::CoreOps<float>& core = *be.core;

    std::vector<sy::bench::Measurement> ms;
    for (size_t i = 0; i < gs.size(); ++i) {
      const GemmShape& g = gs[i];
      Buffers& buf = bufs[i];
      auto setup = [&g, &buf, i] {
        if (!buf.c.empty()) return;
        buf.a.resize({g.M * g.K});
        buf.b.resize({g.K * g.N});
        buf.c.resize({g.M * g.N});
        fill(buf.a, 2 * i + 1);
        fill(buf.b, 2 * i + 2);
      };
      // Leading dimensions of the stored (not the transposed) row-major matrices.
      const int64_t lda = g.trans_a ? g.M : g.K, ldb = g.trans_b ? g.K : g.N, ldc = g.N;
      const double flops = 2.0 * g.M * g.N * g.K;
      ms.push_back({"backend." + g.name, shape_label(g), sy::bench::Unit::flops, flops, setup, [&core, &g, &buf, lda, ldb, ldc] {
                      core.gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.0f, buf.a.data(), lda, buf.b.data(), ldb, 0.0f,
                                buf.c.data(), ldc);
                    }});
      ms.push_back({"cblas." + g.name, shape_label(g), sy::bench::Unit::flops, flops, setup, [&g, &buf, lda, ldb, ldc] {
                      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                                  g.trans_b ? CblasTrans : CblasNoTrans, g.M, g.N, g.K, 1.0f, buf.a.data(), lda,
                                  buf.b.data(), ldb, 0.0f, buf.c.data(), ldc);
                    }});
    }

    Ceiling c;
    c.threads = threads;
    for (const sy::bench::Result& r : sy::bench::run_measurements("gemm_ceiling", ms, opt, threads)) {
      bool backend = r.name.rfind("backend.", 0) == 0;
      if (backend && r.rate_median > c.backend_gflops) {
        c.backend_gflops = r.rate_median;
        c.backend_shape = r.name + " " + r.shape;
      }
      if (!backend) c.cblas_gflops = std::max(c.cblas_gflops, r.rate_median);
      c.best_gflops = std::max(c.best_gflops, r.rate_best);
    }
    ceilings.push_back(c);
  }

  std::printf("\n# fp32 GEMM ceiling (max over shapes of the median rate; best = max single sample)\n");
  for (const Ceiling& c : ceilings) {
    std::printf("CEILING threads=%d gflops=%.2f (cblas %.2f, best sample %.2f) at %s\n", c.threads, c.backend_gflops,
                c.cblas_gflops, c.best_gflops, c.backend_shape.c_str());
    if (opt.json)
      std::printf(
          "JSON {\"bench\":\"gemm_ceiling\",\"name\":\"ceiling\",\"threads\":%d,\"gflops\":%.3f,\"cblas_gflops\":%.3f,"
          "\"best_sample_gflops\":%.3f,\"at\":\"%s\"}\n",
          c.threads, c.backend_gflops, c.cblas_gflops, c.best_gflops, c.backend_shape.c_str());
  }
  return 0;
}
