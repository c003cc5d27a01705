// model/mlp.cpp — Mlp<T> forward and backward, one expert or a layer's experts in grouped GEMMs.
#include "model/mlp.h"

#include "runtime/profile.h"

namespace sy {

namespace {
// Resizes only on a shape change: every activation buffer is fully overwritten,
// so resize()'s zero-fill is wasted, and the MoE layer points its experts'
// buffers into an arena with the right shape already (views must not resize).
template <class T>
void ensure(Tensor<T>& t, int64_t rows, int64_t cols) {
  if (t.data() == nullptr || !t.has_shape({rows, cols})) t.resize({rows, cols});
}
}  // namespace

template <class T>
Mlp<T>::Mlp(ParameterSet<T>& params, const std::string& prefix, int64_t d_model, int64_t d_hidden, Activation act,
            bool bias, ExpertTag tag)
    : act_(act),
      fc1_(params, prefix + "/fc1", d_model, d_hidden, bias, InitSpec::Normal(), tag),
      fc2_(params, prefix + "/fc2", d_hidden, d_model, bias, InitSpec::Normal(), tag) {
  if (act == Activation::swiglu) fc3_ = Linear<T>(params, prefix + "/fc3", d_model, d_hidden, bias, InitSpec::Normal(), tag);
}

template <class T>
void Mlp<T>::forward(const Backend<T>& be, const T* x, int64_t N, T* y, MlpActivations<T>& acts) const {
  const int64_t H = hidden();
  ensure(acts.h1, N, H);
  ensure(acts.a, N, H);
  fc1_.forward(be, x, N, acts.h1.data());
  if (act_ == Activation::swiglu) {
    ensure(acts.h3, N, H);
    fc3_.forward(be, x, N, acts.h3.data());
  }
  {
    prof::Scope ps(prof::Phase::activation);
    switch (act_) {
      case Activation::gelu: be.nn->gelu_forward(N * H, acts.h1.data(), acts.a.data()); break;
      case Activation::relu: be.nn->relu_forward(N * H, acts.h1.data(), acts.a.data()); break;
      case Activation::swiglu: be.nn->swiglu_forward(N * H, acts.h1.data(), acts.h3.data(), acts.a.data()); break;
    }
  }
  fc2_.forward(be, acts.a.data(), N, y);
}

template <class T>
void Mlp<T>::backward(const Backend<T>& be, const T* x, const T* dy, int64_t N, T* dx, MlpActivations<T>& acts,
                      bool accumulate_dx) const {
  const int64_t H = hidden();
  ensure(acts.da, N, H);
  fc2_.backward(be, acts.a.data(), dy, N, acts.da.data());
  // The activation's input gradients overwrite the saved pre-activations: they are not needed again.
  T* dh1 = acts.h1.data();
  {
    prof::Scope ps(prof::Phase::activation);
    switch (act_) {
      case Activation::gelu: be.nn->gelu_backward(N * H, acts.h1.data(), acts.da.data(), dh1); break;
      case Activation::relu: be.nn->relu_backward(N * H, acts.h1.data(), acts.da.data(), dh1); break;
      case Activation::swiglu:
        // dgate and dup land in h1 and h3; the kernel reads each element before writing it.
        be.nn->swiglu_backward(N * H, acts.h1.data(), acts.h3.data(), acts.da.data(), dh1, acts.h3.data());
        break;
    }
  }
  fc1_.backward(be, x, dh1, N, dx, accumulate_dx);
  if (act_ == Activation::swiglu) fc3_.backward(be, x, acts.h3.data(), N, dx, /*accumulate_dx=*/dx != nullptr);
}

namespace {

// Grouped-call helpers over the experts that have rows (`active`); x_of(j) etc.
// give expert j's operands.

// Per-thread lists the grouped calls fill every layer and step; clear() keeps
// their capacity, so the steady-state step loop does not allocate.
template <class T>
struct GroupScratch {
  std::vector<int> active;
  std::vector<int64_t> rows;
  std::vector<const Linear<T>*> fc1, fc2, fc3;
  std::vector<GemmGroupItem<T>> items;
};
template <class T>
GroupScratch<T>& group_scratch() {
  thread_local GroupScratch<T> s;
  return s;
}

// Fills the per-thread lists for a layer's experts: their Linears and row
// counts, and which experts have rows.
template <class T>
GroupScratch<T>& group_lists(const std::vector<Mlp<T>>& experts, const int64_t* counts) {
  GroupScratch<T>& g = group_scratch<T>();
  const size_t L = experts.size();
  g.active.clear();
  g.rows.assign(counts, counts + L);
  g.fc1.resize(L);
  g.fc2.resize(L);
  g.fc3.resize(L);
  for (size_t j = 0; j < L; ++j) {
    g.fc1[j] = &experts[j].fc1();
    g.fc2[j] = &experts[j].fc2();
    g.fc3[j] = &experts[j].fc3();
    if (counts[j] != 0) g.active.push_back(static_cast<int>(j));
  }
  return g;
}

// y_j[rows, out] = x_j · W_jᵀ (+ b_j), all j in one grouped GEMM.
template <class T, class X, class Y>
void linear_forward_group(const Backend<T>& be, const std::vector<int>& active, const std::vector<int64_t>& rows,
                          const std::vector<const Linear<T>*>& lin, X x_of, Y y_of) {
  std::vector<GemmGroupItem<T>>& items = group_scratch<T>().items;
  items.clear();
  for (int j : active) {
    const Linear<T>& l = *lin[j];
    items.push_back({rows[j], l.out(), l.in(), x_of(j), l.in(), l.weight()->value.data(), l.in(), y_of(j), l.out()});
  }
  be.core->gemm_grouped(false, true, T(1), T(0), items.data(), int64_t(items.size()));
  for (int j : active)
    if (lin[j]->bias()) be.core->add_bias(rows[j], lin[j]->out(), lin[j]->bias()->value.data(), y_of(j));
}

// dW_j += dy_jᵀ·x_j and db_j += Σ dy_j, grouped.
template <class T, class X, class DY>
void linear_weight_grad_group(const Backend<T>& be, const std::vector<int>& active, const std::vector<int64_t>& rows,
                              const std::vector<const Linear<T>*>& lin, X x_of, DY dy_of) {
  std::vector<GemmGroupItem<T>>& items = group_scratch<T>().items;
  items.clear();
  for (int j : active) {
    const Linear<T>& l = *lin[j];
    items.push_back({l.out(), l.in(), rows[j], dy_of(j), l.out(), x_of(j), l.in(), l.weight()->grad.data(), l.in()});
  }
  be.core->gemm_grouped(true, false, T(1), T(1), items.data(), int64_t(items.size()));
  for (int j : active)
    if (lin[j]->bias()) be.core->bias_grad(rows[j], lin[j]->out(), dy_of(j), lin[j]->bias()->grad.data());
}

// dx_j = dy_j·W_j (or += when accumulate_dx), grouped.
template <class T, class DY, class DX>
void linear_data_grad_group(const Backend<T>& be, const std::vector<int>& active, const std::vector<int64_t>& rows,
                            const std::vector<const Linear<T>*>& lin, DY dy_of, DX dx_of, bool accumulate_dx) {
  std::vector<GemmGroupItem<T>>& items = group_scratch<T>().items;
  items.clear();
  for (int j : active) {
    const Linear<T>& l = *lin[j];
    items.push_back({rows[j], l.in(), l.out(), dy_of(j), l.out(), l.weight()->value.data(), l.in(), dx_of(j), l.in()});
  }
  be.core->gemm_grouped(false, false, T(1), accumulate_dx ? T(1) : T(0), items.data(), int64_t(items.size()));
}

}  // namespace

template <class T>
void Mlp<T>::forward_group(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                           const int64_t* offsets, const T* x, T* y, std::vector<MlpActivations<T>>& acts) {
  const int L = static_cast<int>(experts.size());
  if (L == 0) return;
  const int64_t d = experts[0].fc1_.in();
  const Activation act = experts[0].act_;
  GroupScratch<T>& g = group_lists(experts, counts);
  const std::vector<int>& active = g.active;
  const std::vector<int64_t>& rows = g.rows;
  const std::vector<const Linear<T>*>&fc1 = g.fc1, &fc2 = g.fc2, &fc3 = g.fc3;
  for (int j : active) {
    const int64_t H = experts[j].hidden();
    ensure(acts[j].h1, rows[j], H);
    ensure(acts[j].a, rows[j], H);
    if (act == Activation::swiglu) ensure(acts[j].h3, rows[j], H);
  }
  auto x_of = [&](int j) { return x + offsets[j] * d; };
  linear_forward_group(be, active, rows, fc1, x_of, [&](int j) { return acts[j].h1.data(); });
  if (act == Activation::swiglu)
    linear_forward_group(be, active, rows, fc3, x_of, [&](int j) { return acts[j].h3.data(); });
  for (int j : active) {
    const int64_t n = rows[j] * experts[j].hidden();
    switch (act) {
      case Activation::gelu: be.nn->gelu_forward(n, acts[j].h1.data(), acts[j].a.data()); break;
      case Activation::relu: be.nn->relu_forward(n, acts[j].h1.data(), acts[j].a.data()); break;
      case Activation::swiglu: be.nn->swiglu_forward(n, acts[j].h1.data(), acts[j].h3.data(), acts[j].a.data()); break;
    }
  }
  linear_forward_group(be, active, rows, fc2, [&](int j) { return static_cast<const T*>(acts[j].a.data()); },
                       [&](int j) { return y + offsets[j] * d; });
}

template <class T>
void Mlp<T>::backward_group(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                            const int64_t* offsets, const T* x, const T* dy, T* dx,
                            std::vector<MlpActivations<T>>& acts) {
  backward_group_data(be, experts, counts, offsets, dy, dx, acts);
  backward_group_weights(be, experts, counts, offsets, x, dy, acts);
}

template <class T>
void Mlp<T>::backward_group_data(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                                 const int64_t* offsets, const T* dy, T* dx, std::vector<MlpActivations<T>>& acts) {
  const int L = static_cast<int>(experts.size());
  if (L == 0) return;
  const int64_t d = experts[0].fc1_.in();
  const Activation act = experts[0].act_;
  GroupScratch<T>& g = group_lists(experts, counts);
  const std::vector<int>& active = g.active;
  const std::vector<int64_t>& rows = g.rows;
  for (int j : active) {
    ensure(acts[j].da, rows[j], experts[j].hidden());
  }
  auto dx_of = [&](int j) { return dx + offsets[j] * d; };
  linear_data_grad_group(
      be, active, rows, g.fc2, [&](int j) { return dy + offsets[j] * d; }, [&](int j) { return acts[j].da.data(); },
      false);
  // As in backward(): the activation's input gradients overwrite h1 (and h3),
  // where backward_group_weights reads them.
  for (int j : active) {
    const int64_t n = rows[j] * experts[j].hidden();
    MlpActivations<T>& a = acts[j];
    switch (act) {
      case Activation::gelu: be.nn->gelu_backward(n, a.h1.data(), a.da.data(), a.h1.data()); break;
      case Activation::relu: be.nn->relu_backward(n, a.h1.data(), a.da.data(), a.h1.data()); break;
      case Activation::swiglu:
        be.nn->swiglu_backward(n, a.h1.data(), a.h3.data(), a.da.data(), a.h1.data(), a.h3.data());
        break;
    }
  }
  linear_data_grad_group(
      be, active, rows, g.fc1, [&](int j) { return static_cast<const T*>(acts[j].h1.data()); }, dx_of, false);
  if (act == Activation::swiglu)
    linear_data_grad_group(
        be, active, rows, g.fc3, [&](int j) { return static_cast<const T*>(acts[j].h3.data()); }, dx_of, true);
}

template <class T>
void Mlp<T>::backward_group_weights(const Backend<T>& be, const std::vector<Mlp>& experts, const int64_t* counts,
                                    const int64_t* offsets, const T* x, const T* dy,
                                    std::vector<MlpActivations<T>>& acts) {
  const int L = static_cast<int>(experts.size());
  if (L == 0) return;
  const int64_t d = experts[0].fc1_.in();
  GroupScratch<T>& g = group_lists(experts, counts);
  const std::vector<int>& active = g.active;
  const std::vector<int64_t>& rows = g.rows;
  auto x_of = [&](int j) { return x + offsets[j] * d; };
  linear_weight_grad_group(
      be, active, rows, g.fc2, [&](int j) { return static_cast<const T*>(acts[j].a.data()); },
      [&](int j) { return dy + offsets[j] * d; });
  linear_weight_grad_group(be, active, rows, g.fc1, x_of,
                           [&](int j) { return static_cast<const T*>(acts[j].h1.data()); });
  if (experts[0].act_ == Activation::swiglu)
    linear_weight_grad_group(be, active, rows, g.fc3, x_of,
                             [&](int j) { return static_cast<const T*>(acts[j].h3.data()); });
}

template class Mlp<float>;
template class Mlp<double>;

}  // namespace sy
