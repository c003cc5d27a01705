// runtime/cuda/cuda_core_ops.h — CudaCoreOps<T>: CoreOps on one GPU, GEMMs through cuBLASLt (T = float or bf16).
#pragma once
#include <cuda_bf16.h>

#include <memory>

#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/gemm_layout.h"
#include "runtime/ops/core_ops.h"
#include "runtime/shape_cache.h"

namespace sy {

using bf16 = __nv_bfloat16;

// Every pointer is device memory.  GEMMs accumulate in fp32 (CUBLAS_COMPUTE_32F, no
// TF32, so fp32 matches the CPU backend to rounding); bf16 tensors are storage only.
template <class T>
class CudaCoreOps final : public CoreOps<T> {
 public:
  // GEMM plans (descriptors, layouts, the heuristic's algorithm) are cached per
  // shape, up to `max_cached_plans` shapes (runtime/shape_cache.h).
  explicit CudaCoreOps(std::shared_ptr<CudaContext> ctx, size_t max_cached_plans = 4096)
      : ctx_(std::move(ctx)), plans_(std::make_unique<ShapeCache<LtGemmKey, LtPlan>>(max_cached_plans)) {}

  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
            const T* B, int64_t ldb, T beta, T* C, int64_t ldc) const override;
  // Runs of items with one shape and constant pointer strides (the experts of a
  // layer at equal capacity, weights stored back to back) go to cuBLASLt as one
  // strided-batched call each (grouped_gemm_runs.h); the rest one call per item.
  void gemm_grouped(bool trans_a, bool trans_b, T alpha, T beta, const GemmGroupItem<T>* items,
                    int64_t count) const override;
  // `batch` GEMMs of one shape in one cuBLASLt call: problem i reads A + i·stride_a,
  // B + i·stride_b and writes C + i·stride_c (the experts of a layer at equal capacity).
  // Experts with different row counts (dropless routing) are separate gemm calls.
  void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                            int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                            int64_t ldc, int64_t stride_c, int batch) const;
  void add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const override;
  void bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const override;
  void axpy(int64_t n, T alpha, const T* x, T* y) const override;
  void add(int64_t n, const T* a, const T* b, T* out) const override;
  void scale(int64_t n, T alpha, T* x) const override;
  double sum_squares(int64_t n, const T* x) const override;
  const ShapeCache<LtGemmKey, LtPlan>& plans() const { return *plans_; }
  void adamw(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1, double beta2,
             double eps, double weight_decay, int64_t step, double grad_scale) const override;

 private:
  std::shared_ptr<CudaContext> ctx_;
  std::unique_ptr<ShapeCache<LtGemmKey, LtPlan>> plans_;
};

}  // namespace sy
