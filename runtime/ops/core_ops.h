// runtime/ops/core_ops.h — CoreOps<T>: GEMM and the elementwise/reduction kernels every layer needs.
#pragma once
#include <cstdint>

namespace sy {

// One GEMM of a grouped call: its sizes and operands (the call fixes transposes, alpha, beta).
template <class T>
struct GemmGroupItem {
  int64_t M = 0, N = 0, K = 0;
  const T* A = nullptr;
  int64_t lda = 0;
  const T* B = nullptr;
  int64_t ldb = 0;
  T* C = nullptr;
  int64_t ldc = 0;
};

// All pointers are device pointers of the backend (host memory for the CPU
// backend); all matrices are row-major.
template <class T>
class CoreOps {
 public:
  virtual ~CoreOps() = default;

  // C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C.
  // op(A) = A (lda ≥ K) or Aᵀ (A stored [K,M], lda ≥ M); likewise for B.
  virtual void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) const = 0;

  // The grouped form (one call for all experts of a layer): gemm() on every item,
  // in any order or concurrently, so no item's C may overlap another item's C
  // or operands.  Each item computes what gemm() computes for it (float rounding may
  // differ with how the work is split over threads).
  virtual void gemm_grouped(bool trans_a, bool trans_b, T alpha, T beta, const GemmGroupItem<T>* items,
                            int64_t count) const {
    for (int64_t i = 0; i < count; ++i) {
      const GemmGroupItem<T>& g = items[i];
      gemm(trans_a, trans_b, g.M, g.N, g.K, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C, g.ldc);
    }
  }

  // y[rows, cols] += bias[cols] broadcast over rows.
  virtual void add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const = 0;
  // db[cols] += Σ_rows dy[rows, cols].
  virtual void bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const = 0;

  // y += alpha · x
  virtual void axpy(int64_t n, T alpha, const T* x, T* y) const = 0;
  // out = a + b (out may alias a or b)
  virtual void add(int64_t n, const T* a, const T* b, T* out) const = 0;
  // x *= alpha
  virtual void scale(int64_t n, T alpha, T* x) const = 0;
  // Σ x², accumulated in double.
  virtual double sum_squares(int64_t n, const T* x) const = 0;

  // Declares w [rows, cols] (row-major, dense) a weight that GEMMs read as
  // their B operand and that changes only through adamw() on it, or before a
  // call to weights_changed().  A backend may keep a derived copy of it (the
  // CPU backend with bf16 precision: the weight rounded and packed once per
  // optimizer step instead of in every GEMM).  Not concurrent with GEMMs.
  virtual void register_weight(const T* w, int64_t rows, int64_t cols) {
    (void)w, (void)rows, (void)cols;
  }
  // Registered weights may have changed other than through adamw() (a
  // checkpoint was loaded, a test edited them): derived copies are remade.
  virtual void weights_changed() {}

  // One AdamW step on n elements (decoupled weight decay, bias-corrected moments):
  //   m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²
  //   p -= lr · (m / (1-β1^t) / (sqrt(v / (1-β2^t)) + eps) + wd · p)
  // `grad_scale` multiplies g first (global-norm clipping).
  virtual void adamw(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1,
                     double beta2, double eps, double weight_decay, int64_t step, double grad_scale) const = 0;
};

}  // namespace sy
