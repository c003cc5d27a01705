// tests/unit/gradcheck.h — finite-difference gradient checking (float64) and small test utilities.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace sy::test {

// Fills `t` with N(0, std) draws from `seed`.
template <class T>
void fill_normal(Tensor<T>& t, uint64_t seed, double std = 1.0) {
  Rng rng(seed, 0x5eed);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(std * rng.normal());
}

// Checks `analytic[i]` ≈ ∂loss/∂x[i] by central differences, perturbing x in place
// (and restoring it).  `loss` recomputes the scalar from scratch.  Checks every
// element when n ≤ max_checks, else a deterministic sample.  Fails the current
// test with the worst element when |a - fd| > atol + rtol·max(|a|, |fd|).
inline void expect_gradient(const std::string& what, double* x, int64_t n, const double* analytic,
                            const std::function<double()>& loss, double rtol = 1e-6, double atol = 1e-8,
                            double eps = 1e-6, int64_t max_checks = 400) {
  std::vector<int64_t> idx;
  if (n <= max_checks) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    Rng rng(n, 0xfd);
    for (int64_t k = 0; k < max_checks; ++k) idx.push_back(static_cast<int64_t>(rng.below(n)));
  }
  double worst = 0;
  int64_t worst_i = -1;
  double worst_a = 0, worst_fd = 0;
  for (int64_t i : idx) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    const double fd = (up - down) / (2 * eps);
    const double a = analytic[i];
    const double excess = std::abs(a - fd) - (atol + rtol * std::max(std::abs(a), std::abs(fd)));
    if (excess > worst || worst_i < 0) {
      worst = excess;
      worst_i = i;
      worst_a = a;
      worst_fd = fd;
    }
  }
  EXPECT_LE(worst, 0.0) << what << ": element " << worst_i << " analytic " << worst_a << " finite-difference "
                        << worst_fd;
}

// Weighted sum Σ w_i y_i: a scalar loss whose gradient w.r.t. y is w.
inline double weighted_sum(const double* y, const double* w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += y[i] * w[i];
  return s;
}

}  // namespace sy::test
