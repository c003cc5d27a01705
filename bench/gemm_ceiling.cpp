// bench/gemm_ceiling.cpp — the best fp32 GEMM rate reached here (the MFU denominator), oneDNN vs OpenBLAS, fp32 vs bf16, grouped expert GEMMs.
//
// FLOPs of C[M,N] = op(A)[M,K]·op(B)[K,N]: 2·M·N·K (one multiply and one add
// per term; beta = 0 so C is not read).
//
// Each shape runs through the CPU backend's CoreOps<float>::gemm in fp32
// (oneDNN, "backend."), as a direct cblas_sgemm (OpenBLAS, "cblas."), through
// the bf16 backend ("bf16.": inputs rounded to bf16, the rounding included in
// the time), and as a oneDNN matmul whose weight operand was reordered once
// into the library's preferred blocked layout ("packed.": what pre-packing the
// weights would reach; forward NT shapes only).  The fp32 ceiling is the
// highest median rate over all fp32 rows (backend or cblas) at a given thread
// count; the bf16 ceiling likewise over bf16 rows.
//
// Grouped rows time all experts of one layer, as the MoE layer calls them:
// "group.loop." one gemm per expert (each split over all threads), "group.cpu."
// the backend's gemm_grouped (small items one per thread).  Their FLOPs are
// the sum over experts.  Transformer shapes assume a micro-batch of 2048
// tokens (8 × 256), d_model 512, d_ff 2048 (the bench configs in bench/configs/).
#include <cblas.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
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

// All experts of one layer: `count` GEMMs of the same shape on separate buffers.
struct GroupShape {
  std::string name;
  bool trans_a, trans_b;
  int64_t count, M, N, K;
};

std::vector<GroupShape> group_shapes() {
  // fairseq: top-2 of 16, 2048·2/16 = 256 rows per expert, d_expert 2048.
  // olmoe: top-4 of 32, 256 rows per expert, d_expert 512 (SwiGLU: fc1 and fc3 alike).
  return {{"fairseq.fc1.fwd", false, true, 16, 256, 2048, 512},
          {"fairseq.fc2.bwd_data", false, false, 16, 256, 2048, 512},
          {"fairseq.fc1.bwd_weight", true, false, 16, 2048, 512, 256},
          {"olmoe.fc1.fwd", false, true, 32, 256, 512, 512},
          {"olmoe.fc2.bwd_data", false, false, 32, 256, 512, 512},
          {"olmoe.fc1.bwd_weight", true, false, 32, 512, 512, 256}};
}

struct GroupBuffers {
  std::vector<Buffers> items;
  std::vector<sy::GemmGroupItem<float>> desc;
};

// A oneDNN matmul C = A·Bᵀ (B stored [N, K], a torch weight) whose B was
// reordered once into the blocked layout the primitive asks for: the rate
// pre-packed weights would reach.
struct PackedMatmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory a, b_packed, c;

  PackedMatmul(int64_t M, int64_t N, int64_t K, float* A, float* B, float* C, bool bf16) {
    using dt = dnnl::memory::data_type;
    const dt in = bf16 ? dt::bf16 : dt::f32;
    dnnl::memory::desc a_md({M, K}, in, dnnl::memory::dims{K, 1});
    dnnl::memory::desc b_any({K, N}, in, dnnl::memory::format_tag::any);
    dnnl::memory::desc c_md({M, N}, dt::f32, dnnl::memory::dims{N, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), eng);
    prim = dnnl::matmul(pd);
    // Inputs converted (f32 → bf16 when asked) and weights reordered once, outside the timing.
    dnnl::memory a_f32({{M, K}, dt::f32, dnnl::memory::dims{K, 1}}, eng, A);
    dnnl::memory b_f32({{K, N}, dt::f32, dnnl::memory::dims{1, K}}, eng, B);
    a = dnnl::memory(a_md, eng);
    b_packed = dnnl::memory(pd.weights_desc(), eng);
    c = dnnl::memory(c_md, eng, C);
    dnnl::reorder(a_f32, a).execute(strm, a_f32, a);
    dnnl::reorder(b_f32, b_packed).execute(strm, b_f32, b_packed);
    strm.wait();
  }
  void run() {
    prim.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b_packed}, {DNNL_ARG_DST, c}});
    strm.wait();
  }
};

}  // namespace

int main(int argc, char** argv) {
  sy::bench::Options opt = sy::bench::parse_options(
      argc, argv, "Prints the fp32 and bf16 GEMM ceilings (max median GFLOP/s over shapes) per thread count.\n");

  // Buffers live across thread counts; allocated once per shape on first setup.
  std::vector<GemmShape> gs = shapes();
  std::vector<Buffers> bufs(gs.size());
  std::vector<GroupShape> groups = group_shapes();
  std::vector<GroupBuffers> gbufs(groups.size());

  char* config = openblas_get_config();
  const dnnl_version_t* v = dnnl_version();
  std::printf("# BLAS: %s; core %s; oneDNN %d.%d.%d (cpu runtime %s)\n", config, openblas_get_corename(), v->major,
              v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
  sy::bench::print_header("gemm_ceiling", opt);

  struct Ceiling {
    int threads = 0;
    double fp32 = 0, onednn = 0, cblas = 0, packed = 0, bf16 = 0, bf16_backend = 0, bf16_packed = 0, best_sample = 0;
    std::string fp32_at, bf16_at;
  };
  std::vector<Ceiling> ceilings;

  for (int threads : opt.threads) {
    // Each sets oneDNN's OpenMP thread count, and OpenBLAS to one thread (the
    // backend splits its OpenBLAS GEMMs over its own threads).
    sy::Backend<float> be = sy::make_cpu_backend<float>(threads);
    // bf16 rows only where oneDNN has bf16 matmul kernels (AVX-512 in oneDNN 2.6;
    // not on AVX2-only CPUs such as AMD Zen 3): elsewhere fp32 alone is measured.
    std::optional<sy::Backend<float>> be16;
    try {
      be16 = sy::make_cpu_backend<float>(threads, sy::Precision::bf16);
    } catch (const sy::ConfigError& e) {
      std::printf("# bf16 not measured: %s\n", e.what());
    }
    const sy::CoreOps<float>& core = *be.core;
    const sy::CoreOps<float>* core16 = be16 ? be16->core.get() : nullptr;
    std::vector<std::unique_ptr<PackedMatmul>> packed;  // created lazily in setup, per thread count

    // The cblas.* rows measure OpenBLAS's own threading (the ceiling is the best
    // any library reaches here, not only what the backend makes of it).  They run
    // last: after a threaded call OpenBLAS's pool spins for ~0.1 s and would slow
    // the rows after it (see split_sgemm in runtime/cpu/cpu_core_ops.cpp).
    std::vector<sy::bench::Measurement> ms, cblas_ms;
    auto cblas_setup = [threads](const std::function<void()>& setup) {
      return [threads, setup] {
        setup();
        openblas_set_num_threads(threads);
      };
    };
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
      auto via = [&g, &buf, lda, ldb, ldc](const sy::CoreOps<float>& c) {
        return [&c, &g, &buf, lda, ldb, ldc] {
          c.gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.0f, buf.a.data(), lda, buf.b.data(), ldb, 0.0f, buf.c.data(),
                 ldc);
        };
      };
      ms.push_back({"backend." + g.name, shape_label(g), sy::bench::Unit::flops, flops, setup, via(core)});
      cblas_ms.push_back({"cblas." + g.name, shape_label(g), sy::bench::Unit::flops, flops, cblas_setup(setup),
                          [&g, &buf, lda, ldb, ldc] {
                      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                                  g.trans_b ? CblasTrans : CblasNoTrans, g.M, g.N, g.K, 1.0f, buf.a.data(), lda,
                                  buf.b.data(), ldb, 0.0f, buf.c.data(), ldc);
                    }});
      if (core16) ms.push_back({"bf16." + g.name, shape_label(g), sy::bench::Unit::flops, flops, setup, via(*core16)});
      if (!g.trans_a && g.trans_b) {  // forward y = x·Wᵀ: W is the weight that could be pre-packed
        for (bool b16 : {false, true}) {
          if (b16 && !core16) continue;
          auto pm = std::make_shared<std::unique_ptr<PackedMatmul>>();
          ms.push_back({std::string(b16 ? "packed_bf16." : "packed.") + g.name, shape_label(g),
                        sy::bench::Unit::flops, flops,
                        [setup, pm, &g, &buf, b16] {
                          setup();
                          *pm = std::make_unique<PackedMatmul>(g.M, g.N, g.K, buf.a.data(), buf.b.data(),
                                                               buf.c.data(), b16);
                        },
                        [pm] { (*pm)->run(); }});
        }
      }
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      const GroupShape& g = groups[i];
      GroupBuffers& gb = gbufs[i];
      auto setup = [&g, &gb, i] {
        if (!gb.items.empty()) return;
        gb.items.resize(g.count);
        for (int64_t e = 0; e < g.count; ++e) {
          Buffers& b = gb.items[e];
          b.a.resize({g.M * g.K});
          b.b.resize({g.K * g.N});
          b.c.resize({g.M * g.N});
          fill(b.a, 1000 + 2 * i * g.count + 2 * e);
          fill(b.b, 1001 + 2 * i * g.count + 2 * e);
          gb.desc.push_back({g.M, g.N, g.K, b.a.data(), g.trans_a ? g.M : g.K, b.b.data(), g.trans_b ? g.K : g.N,
                             b.c.data(), g.N});
        }
      };
      const double flops = 2.0 * g.count * g.M * g.N * g.K;
      const std::string label = std::to_string(g.count) + "x " + std::to_string(g.M) + "x" + std::to_string(g.N) +
                                "x" + std::to_string(g.K) + " " + (g.trans_a ? "T" : "N") + (g.trans_b ? "T" : "N");
      cblas_ms.push_back({"group.cblas." + g.name, label, sy::bench::Unit::flops, flops, cblas_setup(setup), [&g, &gb] {
                      // OpenBLAS, one sgemm per expert, each over all threads.
                      for (const sy::GemmGroupItem<float>& it : gb.desc)
                        cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                                    g.trans_b ? CblasTrans : CblasNoTrans, it.M, it.N, it.K, 1.0f, it.A, it.lda, it.B,
                                    it.ldb, 0.0f, it.C, it.ldc);
                    }});
      for (const auto* c : {&core, core16}) {
        if (!c) continue;
        const std::string prec = c == core16 ? "bf16." : "";
        ms.push_back({"group.loop." + prec + g.name, label, sy::bench::Unit::flops, flops, setup, [c, &g, &gb] {
                        // The base-class loop: one gemm per expert, each over all threads.
                        c->sy::CoreOps<float>::gemm_grouped(g.trans_a, g.trans_b, 1.0f, 0.0f, gb.desc.data(),
                                                            g.count);
                      }});
        ms.push_back({"group.cpu." + prec + g.name, label, sy::bench::Unit::flops, flops, setup, [c, &g, &gb] {
                        c->gemm_grouped(g.trans_a, g.trans_b, 1.0f, 0.0f, gb.desc.data(), g.count);
                      }});
      }
    }

    for (sy::bench::Measurement& m : cblas_ms) ms.push_back(std::move(m));
    const std::vector<sy::bench::Result> results = sy::bench::run_measurements("gemm_ceiling", ms, opt, threads);
    openblas_set_num_threads(1);  // as the backend keeps it
    Ceiling c;
    c.threads = threads;
    for (const sy::bench::Result& r : results) {
      auto starts = [&r](const char* p) { return r.name.rfind(p, 0) == 0; };
      const bool is_fp32 = starts("backend.") || starts("cblas.") || starts("packed.");
      const bool is_bf16 = starts("bf16.") || starts("packed_bf16.");
      if (is_fp32 && r.rate_median > c.fp32) {
        c.fp32 = r.rate_median;
        c.fp32_at = r.name + " " + r.shape;
      }
      if (is_bf16 && r.rate_median > c.bf16) {
        c.bf16 = r.rate_median;
        c.bf16_at = r.name + " " + r.shape;
      }
      if (starts("backend.")) c.onednn = std::max(c.onednn, r.rate_median);
      if (starts("cblas.")) c.cblas = std::max(c.cblas, r.rate_median);
      if (starts("packed.")) c.packed = std::max(c.packed, r.rate_median);
      if (starts("bf16.")) c.bf16_backend = std::max(c.bf16_backend, r.rate_median);
      if (starts("packed_bf16.")) c.bf16_packed = std::max(c.bf16_packed, r.rate_median);
      if (is_fp32) c.best_sample = std::max(c.best_sample, r.rate_best);
    }
    ceilings.push_back(c);
  }

  std::printf("\n# GEMM ceilings (max over shapes of the median rate; fp32 = best of oneDNN, OpenBLAS, oneDNN pre-packed)\n");
  for (const Ceiling& c : ceilings) {
    std::printf("CEILING threads=%d gflops=%.2f (onednn %.2f, cblas %.2f, packed %.2f, best sample %.2f) at %s\n",
                c.threads, c.fp32, c.onednn, c.cblas, c.packed, c.best_sample, c.fp32_at.c_str());
    std::printf("BF16_CEILING threads=%d gflops=%.2f (backend %.2f, packed %.2f) at %s\n", c.threads, c.bf16,
                c.bf16_backend, c.bf16_packed, c.bf16_at.c_str());
    if (opt.json)
      std::printf(
          "JSON {\"bench\":\"gemm_ceiling\",\"name\":\"ceiling\",\"threads\":%d,\"gflops\":%.3f,\"onednn_gflops\":%.3f,"
          "\"cblas_gflops\":%.3f,\"packed_gflops\":%.3f,\"best_sample_gflops\":%.3f,\"at\":\"%s\","
          "\"bf16_gflops\":%.3f,\"bf16_packed_gflops\":%.3f,\"bf16_at\":\"%s\"}\n",
          c.threads, c.fp32, c.onednn, c.cblas, c.packed, c.best_sample, c.fp32_at.c_str(), c.bf16, c.bf16_packed,
          c.bf16_at.c_str());
  }
  return 0;
}
