// tests/unit/linear_test.cpp — Linear<T> forward against a direct sum, backward by finite differences.
#include "model/linear.h"

#include "tests/unit/gradcheck.h"

namespace sy {
namespace {

TEST(Linear, ForwardMatchesDirectSum) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Linear<double> lin(ps, "fc", 3, 5, true);
  test::fill_normal(lin.weight()->value, 1);
  test::fill_normal(lin.bias()->value, 2);
  Tensor<double> x({4, 3}), y({4, 5});
  test::fill_normal(x, 3);
  lin.forward(be, x.data(), 4, y.data());
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 5; ++o) {
      double ref = lin.bias()->value[o];
      for (int i = 0; i < 3; ++i) ref += x[n * 3 + i] * lin.weight()->value[o * 3 + i];
      EXPECT_NEAR(y[n * 5 + o], ref, 1e-12);
    }
}

TEST(Linear, BackwardMatchesFiniteDifferences) {
  auto be = make_cpu_backend<double>();
  ParameterSet<double> ps;
  Linear<double> lin(ps, "fc", 3, 5, true);
  test::fill_normal(lin.weight()->value, 1);
  test::fill_normal(lin.bias()->value, 2);
  Tensor<double> x({4, 3}), y({4, 5}), w({4, 5}), dx({4, 3});
  test::fill_normal(x, 3);
  test::fill_normal(w, 4);
  auto loss = [&] {
    lin.forward(be, x.data(), 4, y.data());
    return test::weighted_sum(y.data(), w.data(), y.numel());
  };
  ps.zero_grad();
  lin.backward(be, x.data(), w.data(), 4, dx.data());
  test::expect_gradient("dx", x.data(), x.numel(), dx.data(), loss);
  test::expect_gradient("dW", lin.weight()->value.data(), 15, lin.weight()->grad.data(), loss);
  test::expect_gradient("db", lin.bias()->value.data(), 5, lin.bias()->grad.data(), loss);
}

}  // namespace
}  // namespace sy
