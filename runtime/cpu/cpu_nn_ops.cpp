// runtime/cpu/cpu_nn_ops.cpp — CpuNnOps<T>: activations (exact GELU, ReLU, SwiGLU), norms, embeddings, cross-entropy.
#include <cmath>

#include "runtime/cpu/cpu_nn_ops.h"

namespace sy {

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
}  // namespace

template <class T>
void CpuNnOps<T>::gelu_forward(int64_t n, const T* x, T* y) const {
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * T(kInvSqrt2)));
}

template <class T>
void CpuNnOps<T>::gelu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  // d/dx x·Φ(x) = Φ(x) + x·φ(x)
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

template <class T>
void CpuNnOps<T>::relu_forward(int64_t n, const T* x, T* y) const {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <class T>
void CpuNnOps<T>::relu_backward(int64_t n, const T* x, const T* dy, T* dx) const {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <class T>
void CpuNnOps<T>::swiglu_forward(int64_t n, const T* gate, const T* up, T* y) const {
  for (int64_t i = 0; i < n; ++i) {
    const T sig = T(1) / (T(1) + std::exp(-gate[i]));
    y[i] = gate[i] * sig * up[i];
  }
}

template <class T>
void CpuNnOps<T>::swiglu_backward(int64_t n, const T* gate, const T* up, const T* dy, T* dgate, T* dup) const {
  // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
  // Inputs are read before outputs are written, so dgate may alias gate and dup may alias up.
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], u = up[i], d = dy[i];
    const T sig = T(1) / (T(1) + std::exp(-g));
    dup[i] = d * g * sig;
    dgate[i] = d * u * sig * (T(1) + g * (T(1) - sig));
  }
}

template class CpuNnOps<float>;
template class CpuNnOps<double>;

}  // namespace sy
