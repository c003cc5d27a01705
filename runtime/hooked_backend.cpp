// runtime/hooked_backend.cpp — the four op-group decorators behind hook_backend.
#include "runtime/hooked_backend.h"

#include <type_traits>
#include <utility>

namespace sy {
namespace {

// What every decorator holds: the wrapped group and the hooks, and the one way to call through.
template <class Group>
class Hooked {
 protected:
  Hooked(std::unique_ptr<Group> inner, std::shared_ptr<OpHooks> hooks)
      : inner_(std::move(inner)), hooks_(std::move(hooks)) {}

  template <class F>
  auto call(const char* op, std::initializer_list<const void*> operands, F&& f) const {
    hooks_->before(op, operands);
    if constexpr (std::is_void_v<decltype(f(*inner_))>) {
      f(*inner_);
      hooks_->after(op);
    } else {
      auto result = f(*inner_);
      hooks_->after(op);
      return result;
    }
  }

  std::unique_ptr<Group> inner_;
  std::shared_ptr<OpHooks> hooks_;
};

template <class T>
class HookedCoreOps final : public CoreOps<T>, Hooked<CoreOps<T>> {
  using H = Hooked<CoreOps<T>>;
  using H::call;

 public:
  HookedCoreOps(std::unique_ptr<CoreOps<T>> inner, std::shared_ptr<OpHooks> hooks) : H(std::move(inner), std::move(hooks)) {}

  void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
            int64_t ldb, T beta, T* C, int64_t ldc) const override {
    call("gemm", {A, B, C}, [&](const CoreOps<T>& o) { o.gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); });
  }
  void gemm_grouped(bool ta, bool tb, T alpha, T beta, const GemmGroupItem<T>* items, int64_t count) const override {
    // One report per item's operands, then the grouped call itself.
    for (int64_t i = 0; i < count; ++i) this->hooks_->before("gemm_grouped item", {items[i].A, items[i].B, items[i].C});
    call("gemm_grouped", {}, [&](const CoreOps<T>& o) { o.gemm_grouped(ta, tb, alpha, beta, items, count); });
  }
  void add_bias(int64_t rows, int64_t cols, const T* bias, T* y) const override {
    call("add_bias", {bias, y}, [&](const CoreOps<T>& o) { o.add_bias(rows, cols, bias, y); });
  }
  void bias_grad(int64_t rows, int64_t cols, const T* dy, T* db) const override {
    call("bias_grad", {dy, db}, [&](const CoreOps<T>& o) { o.bias_grad(rows, cols, dy, db); });
  }
  void axpy(int64_t n, T alpha, const T* x, T* y) const override {
    call("axpy", {x, y}, [&](const CoreOps<T>& o) { o.axpy(n, alpha, x, y); });
  }
  void add(int64_t n, const T* a, const T* b, T* out) const override {
    call("add", {a, b, out}, [&](const CoreOps<T>& o) { o.add(n, a, b, out); });
  }
  void scale(int64_t n, T alpha, T* x) const override {
    call("scale", {x}, [&](const CoreOps<T>& o) { o.scale(n, alpha, x); });
  }
  double sum_squares(int64_t n, const T* x) const override {
    return call("sum_squares", {x}, [&](const CoreOps<T>& o) { return o.sum_squares(n, x); });
  }
  void register_weight(const T* w, int64_t rows, int64_t cols) override {
    call("register_weight", {w}, [&](const CoreOps<T>&) { this->inner_->register_weight(w, rows, cols); });
  }
  void weights_changed() override {
    call("weights_changed", {}, [&](const CoreOps<T>&) { this->inner_->weights_changed(); });
  }
  void adamw(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1, double beta2,
             double eps, double weight_decay, int64_t step, double grad_scale) const override {
    call("adamw", {param, grad, exp_avg, exp_avg_sq}, [&](const CoreOps<T>& o) {
      o.adamw(n, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
    });
  }
};

template <class T>
class HookedNnOps final : public NnOps<T>, Hooked<NnOps<T>> {
  using H = Hooked<NnOps<T>>;
  using H::call;

 public:
  HookedNnOps(std::unique_ptr<NnOps<T>> inner, std::shared_ptr<OpHooks> hooks) : H(std::move(inner), std::move(hooks)) {}

  void embedding_forward(int64_t N, int64_t d, const int32_t* ids, const T* table, T scale, T* out) const override {
    call("embedding_forward", {ids, table, out},
         [&](const NnOps<T>& o) { o.embedding_forward(N, d, ids, table, scale, out); });
  }
  void embedding_backward(int64_t N, int64_t d, const int32_t* ids, const T* dout, T scale, T* dtable) const override {
    call("embedding_backward", {ids, dout, dtable},
         [&](const NnOps<T>& o) { o.embedding_backward(N, d, ids, dout, scale, dtable); });
  }
  void add_positions(int64_t B, int64_t S, int64_t d, const T* table, int64_t offset, T* h) const override {
    call("add_positions", {table, h}, [&](const NnOps<T>& o) { o.add_positions(B, S, d, table, offset, h); });
  }
  void positions_backward(int64_t B, int64_t S, int64_t d, const T* dh, int64_t offset, T* dtable) const override {
    call("positions_backward", {dh, dtable},
         [&](const NnOps<T>& o) { o.positions_backward(B, S, d, dh, offset, dtable); });
  }
  void layernorm_forward(int64_t N, int64_t d, const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                         T* rstd) const override {
    call("layernorm_forward", {x, w, b, y, mean, rstd},
         [&](const NnOps<T>& o) { o.layernorm_forward(N, d, x, w, b, eps, y, mean, rstd); });
  }
  void layernorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* mean, const T* rstd, const T* dy,
                          T* dx, T* dw, T* db) const override {
    call("layernorm_backward", {x, w, mean, rstd, dy, dx, dw, db},
         [&](const NnOps<T>& o) { o.layernorm_backward(N, d, x, w, mean, rstd, dy, dx, dw, db); });
  }
  void rmsnorm_forward(int64_t N, int64_t d, const T* x, const T* w, double eps, T* y, T* rstd) const override {
    call("rmsnorm_forward", {x, w, y, rstd}, [&](const NnOps<T>& o) { o.rmsnorm_forward(N, d, x, w, eps, y, rstd); });
  }
  void rmsnorm_backward(int64_t N, int64_t d, const T* x, const T* w, const T* rstd, const T* dy, T* dx,
                        T* dw) const override {
    call("rmsnorm_backward", {x, w, rstd, dy, dx, dw},
         [&](const NnOps<T>& o) { o.rmsnorm_backward(N, d, x, w, rstd, dy, dx, dw); });
  }
  void gelu_forward(int64_t n, const T* x, T* y) const override {
    call("gelu_forward", {x, y}, [&](const NnOps<T>& o) { o.gelu_forward(n, x, y); });
  }
  void gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const override {
    call("gelu_backward", {x, dy, dx}, [&](const NnOps<T>& o) { o.gelu_backward(n, x, dy, dx); });
  }
  void relu_forward(int64_t n, const T* x, T* y) const override {
    call("relu_forward", {x, y}, [&](const NnOps<T>& o) { o.relu_forward(n, x, y); });
  }
  void relu_backward(int64_t n, const T* x, const T* dy, T* dx) const override {
    call("relu_backward", {x, dy, dx}, [&](const NnOps<T>& o) { o.relu_backward(n, x, dy, dx); });
  }
  void swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const override {
    call("swiglu_forward", {gate, up, y}, [&](const NnOps<T>& o) { o.swiglu_forward(n, gate, up, y); });
  }
  void swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const override {
    call("swiglu_backward", {gate, up, dy, dgate, dup},
         [&](const NnOps<T>& o) { o.swiglu_backward(n, gate, up, dy, dgate, dup); });
  }
  double cross_entropy(int64_t N, int64_t V, const T* logits, const int32_t* targets, T grad_scale,
                       T* dlogits) const override {
    return call("cross_entropy", {logits, targets, dlogits},
                [&](const NnOps<T>& o) { return o.cross_entropy(N, V, logits, targets, grad_scale, dlogits); });
  }
};

template <class T>
class HookedAttentionOps final : public AttentionOps<T>, Hooked<AttentionOps<T>> {
  using H = Hooked<AttentionOps<T>>;
  using H::call;

 public:
  HookedAttentionOps(std::unique_ptr<AttentionOps<T>> inner, std::shared_ptr<OpHooks> hooks)
      : H(std::move(inner), std::move(hooks)) {}

  void rope_forward(int64_t B, int64_t S, int64_t Hh, int64_t D, double theta, T* x) const override {
    call("rope_forward", {x}, [&](const AttentionOps<T>& o) { o.rope_forward(B, S, Hh, D, theta, x); });
  }
  void rope_backward(int64_t B, int64_t S, int64_t Hh, int64_t D, double theta, T* dx) const override {
    call("rope_backward", {dx}, [&](const AttentionOps<T>& o) { o.rope_backward(B, S, Hh, D, theta, dx); });
  }
  void attention_forward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                         const T* v, T* out, T* lse) const override {
    call("attention_forward", {q, k, v, out, lse},
         [&](const AttentionOps<T>& o) { o.attention_forward(B, S, Hq, Hkv, D, q, k, v, out, lse); });
  }
  void attention_backward(int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, const T* q, const T* k,
                          const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) const override {
    call("attention_backward", {q, k, v, out, lse, dout, dq, dk, dv}, [&](const AttentionOps<T>& o) {
      o.attention_backward(B, S, Hq, Hkv, D, q, k, v, out, lse, dout, dq, dk, dv);
    });
  }
};

template <class T>
class HookedMoeOps final : public MoeOps<T>, Hooked<MoeOps<T>> {
  using H = Hooked<MoeOps<T>>;
  using H::call;

 public:
  HookedMoeOps(std::unique_ptr<MoeOps<T>> inner, std::shared_ptr<OpHooks> hooks) : H(std::move(inner), std::move(hooks)) {}

  void router_softmax(int64_t N, int64_t E, const T* logits, T* probs, T* lse) const override {
    call("router_softmax", {logits, probs, lse}, [&](const MoeOps<T>& o) { o.router_softmax(N, E, logits, probs, lse); });
  }
  void router_topk(int64_t N, int64_t E, int k, const T* probs, const T* select, const T* bias, bool normalize,
                   int32_t* expert, T* gate) const override {
    call("router_topk", {probs, select, bias, expert, gate},
         [&](const MoeOps<T>& o) { o.router_topk(N, E, k, probs, select, bias, normalize, expert, gate); });
  }
  void router_statistics(int64_t N, int64_t E, const T* probs, const T* lse, double* prob_sum, double* lse_sq_sum,
                         double* entropy_sum) const override {
    // The sums are host memory by contract.
    call("router_statistics", {probs, lse},
         [&](const MoeOps<T>& o) { o.router_statistics(N, E, probs, lse, prob_sum, lse_sq_sum, entropy_sum); });
  }
  void router_backward(int64_t N, int64_t E, int k, const T* probs, const T* lse, const int32_t* expert,
                       const T* dgate, bool normalize, const T* aux_dprob, T z_scale, T* dlogits) const override {
    call("router_backward", {probs, lse, expert, dgate, aux_dprob, dlogits}, [&](const MoeOps<T>& o) {
      o.router_backward(N, E, k, probs, lse, expert, dgate, normalize, aux_dprob, z_scale, dlogits);
    });
  }
  void router_jitter(int64_t n, const T* x, const T* mult, T* out) const override {
    call("router_jitter", {x, mult, out}, [&](const MoeOps<T>& o) { o.router_jitter(n, x, mult, out); });
  }
  void gather_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const override {
    call("gather_rows", {index, src, dst}, [&](const MoeOps<T>& o) { o.gather_rows(M, d, index, src, dst); });
  }
  void scatter_add_rows(int64_t M, int64_t d, const int32_t* index, const T* src, T* dst) const override {
    call("scatter_add_rows", {index, src, dst}, [&](const MoeOps<T>& o) { o.scatter_add_rows(M, d, index, src, dst); });
  }
  void combine_rows(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                    const T* rows, T* y) const override {
    call("combine_rows", {token, gate_index, gate, rows, y},
         [&](const MoeOps<T>& o) { o.combine_rows(M, d, token, gate_index, gate, rows, y); });
  }
  void combine_rows_backward(int64_t M, int64_t d, const int32_t* token, const int32_t* gate_index, const T* gate,
                             const T* rows, const T* dy, T* drows, T* dgate) const override {
    call("combine_rows_backward", {token, gate_index, gate, rows, dy, drows, dgate}, [&](const MoeOps<T>& o) {
      o.combine_rows_backward(M, d, token, gate_index, gate, rows, dy, drows, dgate);
    });
  }
};

}  // namespace

template <class T>
Backend<T> hook_backend(Backend<T> inner, std::shared_ptr<OpHooks> hooks) {
  Backend<T> be;
  be.name = inner.name;
  be.core = std::make_unique<HookedCoreOps<T>>(std::move(inner.core), hooks);
  be.nn = std::make_unique<HookedNnOps<T>>(std::move(inner.nn), hooks);
  be.attn = std::make_unique<HookedAttentionOps<T>>(std::move(inner.attn), hooks);
  be.moe = std::make_unique<HookedMoeOps<T>>(std::move(inner.moe), std::move(hooks));
  return be;
}

template Backend<float> hook_backend<float>(Backend<float>, std::shared_ptr<OpHooks>);
template Backend<double> hook_backend<double>(Backend<double>, std::shared_ptr<OpHooks>);

}  // namespace sy
