// runtime/cpu/cpu_core_ops.h — CpuCoreOps<T>: CoreOps on the host; float GEMMs through oneDNN (fp32 or bf16), double through CBLAS.
#pragma once
#include <memory>

#include "runtime/config.h"
#include "runtime/cpu/dnnl_gemm.h"
#include "runtime/ops/core_ops.h"

namespace sy {

template <class T>
class CpuCoreOps final : public CoreOps<T> {
 public:
  // `precision` = bf16 rounds the GEMM inputs to bf16 (float only; ConfigError for double,
  // and on a CPU oneDNN has no bf16 matmul for).  `threads` is the thread count the
  // grouped GEMM splits its items over.
  explicit CpuCoreOps(Precision precision = Precision::fp32, int threads = 0);

  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
            const T* B, int64_t ldb, T beta, T* C, int64_t ldc) const override;
  void gemm_grouped(bool trans_a, bool trans_b, T alpha, T beta, const GemmGroupItem<T>* items,
                    int64_t count) const override;
  void add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const override;
  void bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const override;
  void axpy(int64_t n, T alpha, const T* x, T* y) const override;
  void add(int64_t n, const T* a, const T* b, T* out) const override;
  void scale(int64_t n, T alpha, T* x) const override;
  double sum_squares(int64_t n, const T* x) const override;
  void register_weight(const T* w, int64_t rows, int64_t cols) override;
  void weights_changed() override;
  // Refreshes the bf16 copy of a registered weight in the same pass (bf16 precision).
  void adamw(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1, double beta2,
             double eps, double weight_decay, int64_t step, double grad_scale) const override;

  // The packed bf16 weight copies (bf16 precision), else nullptr.
  Bf16WeightCache* bf16_weights() const { return dnnl_ && dnnl_->bf16() ? &dnnl_->weights() : nullptr; }

 private:
  // fp32 GEMMs whose B is read untransposed (NN, TN) go to OpenBLAS: set on CPUs
  // where oneDNN has no AVX-512 kernels (see cpu_core_ops.cpp).
  bool use_blas(bool trans_b, int64_t M, int64_t N, int64_t K) const;

  std::unique_ptr<DnnlGemm> dnnl_;  // float only
  int threads_ = 1;
  bool blas_untransposed_b_ = false;
};

// Sets the GEMM thread count of this thread (oneDNN's OpenMP; ≤ 0 leaves its
// default) and OpenBLAS to one thread: CpuCoreOps splits its calls itself.
void set_cpu_threads(int threads);

}  // namespace sy
