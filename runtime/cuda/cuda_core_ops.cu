// runtime/cuda/cuda_core_ops.cu — cuBLASLt GEMM (row-major via gemm_layout.h), elementwise kernels, sum of squares, AdamW.
#include <cmath>
#include <optional>
#include <string>

#include "runtime/cuda/cuda_core_ops.h"
#include "runtime/cuda/gemm_layout.h"
#include "runtime/cuda/grouped_gemm_runs.h"
#include "runtime/cuda/kernel_util.cuh"

namespace sy {

namespace {
using namespace kernels;

template <class T>
constexpr cudaDataType_t cuda_type() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_16BF;
}

LtMatrixLayout layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  SY_GPU(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  LtMatrixLayout owned(l);
  if (batch > 1) {
    const int32_t count = batch;
    SY_GPU(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    SY_GPU(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return owned;
}

// Descriptor, layouts and the heuristic's best algorithm for one GEMM shape (key.K > 0).
LtPlan make_plan(const LtGemmKey& key, cublasLtHandle_t lt, int64_t workspace_bytes) {
  const ColumnMajorGemm g = to_column_major(key.trans_a, key.trans_b, key.M, key.N, key.K, key.lda, key.ldb, key.ldc);
  const auto type = static_cast<cudaDataType_t>(key.type);
  LtPlan plan;
  cublasLtMatmulDesc_t d = nullptr;
  SY_GPU(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  plan.desc = LtMatmulDesc(d);
  const cublasOperation_t op_first = g.op_first_t ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.op_second_t ? CUBLAS_OP_T : CUBLAS_OP_N;
  SY_GPU(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
  SY_GPU(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
  // cuBLAS's first operand is our B, its second our A (gemm_layout.h).
  plan.first = layout(type, g.first_rows, g.first_cols, g.first_ld, key.batch, key.stride_b);
  plan.second = layout(type, g.second_rows, g.second_cols, g.second_ld, key.batch, key.stride_a);
  plan.out = layout(type, g.c_rows, g.c_cols, g.c_ld, key.batch, key.stride_c);

  cublasLtMatmulPreference_t p = nullptr;
  SY_GPU(cublasLtMatmulPreferenceCreate(&p));
  LtPreference pref(p);
  const uint64_t workspace = uint64_t(workspace_bytes);
  SY_GPU(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                              sizeof workspace));
  cublasLtMatmulHeuristicResult_t best = {};
  int found = 0;
  SY_GPU(cublasLtMatmulAlgoGetHeuristic(lt, d, plan.first.get(), plan.second.get(), plan.out.get(), plan.out.get(), p,
                                        1, &best, &found));
  if (found == 0)
    throw DeviceError("cuBLASLt has no algorithm for a " + std::to_string(key.M) + "x" + std::to_string(key.N) + "x" +
                      std::to_string(key.K) + " GEMM (trans " + std::to_string(key.trans_a) +
                      std::to_string(key.trans_b) + ", lda " + std::to_string(key.lda) + ", ldb " +
                      std::to_string(key.ldb) + ", ldc " + std::to_string(key.ldc) + ")");
  plan.algo = best.algo;
  return plan;
}

// C[r, c] = beta · C[r, c] for a K = 0 product (cuBLASLt rejects k = 0); beta = 0 writes zeros, not 0·NaN.
template <class T>
__global__ void scale_matrix(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int batch, float beta, T* C) {
  SY_GRID_STRIDE(i, rows * cols * batch) {
    const int64_t b = i / (rows * cols), r = i / cols % rows, c = i % cols;
    T& x = C[b * stride + r * ld + c];
    x = from_f<T>(beta == 0.f ? 0.f : beta * to_f(x));
  }
}

template <class T>
__global__ void add_bias_kernel(int64_t rows, int64_t cols, const T* bias, T* y) {
  SY_GRID_STRIDE(i, rows * cols) y[i] = from_f<T>(to_f(y[i]) + to_f(bias[i % cols]));
}

// One thread per column, rows summed in order: deterministic, no atomics.
template <class T>
__global__ void bias_grad_kernel(int64_t rows, int64_t cols, const T* dy, T* db) {
  SY_GRID_STRIDE(c, cols) {
    float s = 0;
    for (int64_t r = 0; r < rows; ++r) s += to_f(dy[r * cols + c]);
    db[c] = from_f<T>(to_f(db[c]) + s);
  }
}

template <class T>
__global__ void axpy_kernel(int64_t n, float alpha, const T* x, T* y) {
  SY_GRID_STRIDE(i, n) y[i] = from_f<T>(to_f(y[i]) + alpha * to_f(x[i]));
}

template <class T>
__global__ void add_kernel(int64_t n, const T* a, const T* b, T* out) {
  SY_GRID_STRIDE(i, n) out[i] = from_f<T>(to_f(a[i]) + to_f(b[i]));
}

template <class T>
__global__ void scale_kernel(int64_t n, float alpha, T* x) {
  SY_GRID_STRIDE(i, n) x[i] = from_f<T>(alpha * to_f(x[i]));
}

// Σ x² in double: per-thread partial sums, one block reduction, one atomic per block.
template <class T>
__global__ void sum_squares_kernel(int64_t n, const T* x, double* total) {
  double s = 0;
  SY_GRID_STRIDE(i, n) {
    const double v = to_f(x[i]);
    s += v * v;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(total, s);
}

// The CPU backend's formula (runtime/cpu/cpu_core_ops.cpp), in float.
template <class T>
__global__ void adamw_kernel(int64_t n, T* p, const T* g, T* m, T* v, float b1, float b2, float gs, float step_size,
                             float inv_sqrt_bc2, float eps, float decay) {
  SY_GRID_STRIDE(i, n) {
    const float gi = to_f(g[i]) * gs;
    const float mi = b1 * to_f(m[i]) + (1.f - b1) * gi;
    const float vi = b2 * to_f(v[i]) + (1.f - b2) * gi * gi;
    const float pi = to_f(p[i]);
    m[i] = from_f<T>(mi);
    v[i] = from_f<T>(vi);
    p[i] = from_f<T>(pi - (decay * pi + step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps)));
  }
}

}  // namespace

template <class T>
void CudaCoreOps<T>::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) const {
  gemm_strided_batched(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

template <class T>
void CudaCoreOps<T>::gemm_grouped(bool ta, bool tb, T alpha, T beta, const GemmGroupItem<T>* items,
                                  int64_t count) const {
  for (const GemmRun& r : grouped_gemm_runs(items, count)) {
    const GemmGroupItem<T>& g = items[r.first];
    gemm_strided_batched(ta, tb, g.M, g.N, g.K, alpha, g.A, g.lda, r.stride_a, g.B, g.ldb, r.stride_b, beta, g.C,
                         g.ldc, r.stride_c, int(r.count));
  }
}

template <class T>
void CudaCoreOps<T>::gemm_strided_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                                          int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
                                          T beta, T* C, int64_t ldc, int64_t stride_c, int batch) const {
  if (M == 0 || N == 0 || batch == 0) return;
  const float alpha_f = host_to_f(alpha), beta_f = host_to_f(beta);
  if (K == 0) {
    scale_matrix<<<blocks_for(M * N * batch), kThreads, 0, ctx_->s()>>>(M, N, ldc, stride_c, batch, beta_f, C);
    SY_LAUNCHED();
    return;
  }
  const LtGemmKey key{ta, tb, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c, batch, int(cuda_type<T>())};
  std::optional<LtPlan> spill;
  const LtPlan& plan = plans_->get(key, [&] { return make_plan(key, ctx_->lt.get(), ctx_->workspace.size()); }, spill);
  // cuBLAS's first operand is our B, its second our A (gemm_layout.h).
  SY_GPU(cublasLtMatmul(ctx_->lt.get(), plan.desc.get(), &alpha_f, B, plan.first.get(), A, plan.second.get(), &beta_f,
                        C, plan.out.get(), C, plan.out.get(), &plan.algo, ctx_->workspace.data(),
                        uint64_t(ctx_->workspace.size()), ctx_->s()));
}

template <class T>
void CudaCoreOps<T>::add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const {
  if (rows * cols == 0) return;
  add_bias_kernel<<<blocks_for(rows * cols), kThreads, 0, ctx_->s()>>>(rows, cols, bias, y);
  SY_LAUNCHED();
}

template <class T>
void CudaCoreOps<T>::bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const {
  if (cols == 0) return;
  bias_grad_kernel<<<blocks_for(cols), kThreads, 0, ctx_->s()>>>(rows, cols, dy, db);
  SY_LAUNCHED();
}

template <class T>
void CudaCoreOps<T>::axpy(int64_t n, T alpha, const T* x, T* y) const {
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, ctx_->s()>>>(n, host_to_f(alpha), x, y);
  SY_LAUNCHED();
}

template <class T>
void CudaCoreOps<T>::add(int64_t n, const T* a, const T* b, T* out) const {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, ctx_->s()>>>(n, a, b, out);
  SY_LAUNCHED();
}

template <class T>
void CudaCoreOps<T>::scale(int64_t n, T alpha, T* x) const {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, ctx_->s()>>>(n, host_to_f(alpha), x);
  SY_LAUNCHED();
}

template <class T>
double CudaCoreOps<T>::sum_squares(int64_t n, const T* x) const {
  if (n == 0) return 0;
  DeviceBuffer<double> total(1, ctx_->s());
  SY_GPU(cudaMemsetAsync(total.data(), 0, sizeof(double), ctx_->s()));
  sum_squares_kernel<<<std::min(blocks_for(n), 1024u), kThreads, 0, ctx_->s()>>>(n, x, total.data());
  SY_LAUNCHED();
  return total.download()[0];
}

template <class T>
void CudaCoreOps<T>::adamw(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2,
                           double eps, double wd, int64_t step, double grad_scale) const {
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  adamw_kernel<<<blocks_for(n), kThreads, 0, ctx_->s()>>>(n, p, g, m, v, float(beta1), float(beta2),
                                                          float(grad_scale), float(lr / bc1),
                                                          float(1.0 / std::sqrt(bc2)), float(eps), float(lr * wd));
  SY_LAUNCHED();
}

template class CudaCoreOps<float>;
template class CudaCoreOps<bf16>;

}  // namespace sy
