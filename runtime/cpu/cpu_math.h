// runtime/cpu/cpu_math.h — vectorisable exp/erf for float kernels and the SY_CPU_CLONES attribute.
//
// The project builds for baseline x86-64 (SSE2) so binaries run anywhere; hot
// non-GEMM loops are compiled a second and third time for the x86-64-v3 (AVX2 +
// FMA) and x86-64-v4 (AVX-512) levels with GCC's target_clones and picked at
// load time (ifunc).  Levels, not bare "avx2": that clone had no FMA.  libm's expf/erff are
// scalar calls that stop a loop from vectorising, so float kernels use the
// branch-free versions below (measured over the float range: relative error
// ≤ 1e-7 for exp, absolute error ≤ 6e-7 for erf — float rounding level).  double kernels keep libm: the float64
// gradient checks compare against finite differences of the exact functions.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define SY_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SY_CPU_CLONES
#endif

namespace sy::cpu_math {

// exp(x) for float: 2^n · p(r), r = x − n·ln2 ∈ [−ln2/2, ln2/2], Cephes' degree-5 polynomial.
// Like std::exp but flushing results below 2·FLT_MIN (x < −86.6) to 0; +inf above 88.72;
// NaN stays NaN (the selects are written so a NaN fails every comparison and passes through).
inline float exp(float x) {
  const float xc = x > 88.7228391116729996f ? 88.7228391116729996f : (x < -86.6f ? -86.6f : x);
  // n = round(x / ln2) by the 1.5·2^23 trick (std::floor blocks vectorisation under
  // -ftrapping-math); without -ffast-math the compiler keeps the add and subtract.
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^(n−1) · 2: n reaches 128 near the top of the range, where 2^n is not a float.
  const int32_t bits = (static_cast<int32_t>(n) + 126) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float y = p * scale * 2.0f;
  return x < -86.6f ? 0.0f : (x > 88.7228391116729996f ? HUGE_VALF : y);
}
inline double exp(double x) { return std::exp(x); }

// erf(x) for float: Abramowitz & Stegun 7.1.26 (1.5e−7 in exact arithmetic), odd extension.
inline float erf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp(-a * a);
  return std::copysign(y, x);
}
inline double erf(double x) { return std::erf(x); }

}  // namespace sy::cpu_math
