// tests/unit/attention_reference.h — naive RoPE and causal GQA attention (explicit T×T softmax) that tests compare against.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace sy::test {

// Rotate-half RoPE written straight from DESIGN.md §3, in double, in place on x[B, T, H, D].
inline void reference_rope(int64_t B, int64_t T, int64_t H, int64_t D, double theta, double* x) {
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        double* row = x + ((b * T + t) * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const double angle = double(t) * std::pow(theta, -2.0 * double(i) / double(D));
          const double x1 = row[i], x2 = row[i + half];
          row[i] = x1 * std::cos(angle) - x2 * std::sin(angle);
          row[i + half] = x2 * std::cos(angle) + x1 * std::sin(angle);
        }
      }
}

// Causal attention with the full score matrix of each (b, h): the textbook form.
// q [B,T,Hq,D], k/v [B,T,Hkv,D], out [B,T,Hq,D], lse [B,Hq,T].
inline void reference_attention(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, const double* q,
                                const double* k, const double* v, double* out, double* lse) {
  const int64_t group = Hq / Hkv;
  const double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> scores(T * T);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t g = h / group;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < T; ++s) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q[((b * T + t) * Hq + h) * D + d] * k[((b * T + s) * Hkv + g) * D + d];
          scores[t * T + s] = s <= t ? dot * scale : -INFINITY;
        }
      for (int64_t t = 0; t < T; ++t) {
        double* row = scores.data() + t * T;
        const double m = *std::max_element(row, row + T);
        double sum = 0;
        for (int64_t s = 0; s < T; ++s) sum += std::exp(row[s] - m);
        lse[(b * Hq + h) * T + t] = m + std::log(sum);
        for (int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (int64_t s = 0; s < T; ++s) o += std::exp(row[s] - m) / sum * v[((b * T + s) * Hkv + g) * D + d];
          out[((b * T + t) * Hq + h) * D + d] = o;
        }
      }
    }
}

}  // namespace sy::test
