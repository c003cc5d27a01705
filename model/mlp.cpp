// model/mlp.cpp — Mlp<T> forward and backward.
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

template class Mlp<float>;
template class Mlp<double>;

}  // namespace sy
