// runtime/rng.h — counter-based random numbers: every draw is a pure function of its key.
#pragma once
#include <cmath>
#include <cstdint>
#include <string_view>

namespace sy {

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
constexpr uint64_t mix64(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

constexpr uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

// A stream of draws keyed by (seed, stream id).  Determinism across world sizes
// comes from choosing keys that do not depend on the rank: a parameter's name,
// a global sample index, a (step, layer, global token) triple.
class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) : key_(mix64(seed, stream)) {}

  uint64_t next_u64() { return mix64(key_ + 0x632be59bd9b4e019ull * ++counter_); }
  // Uniform in (0, 1): never exactly 0 or 1, so log() is safe.
  double uniform() { return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Gumbel(0, 1).
  double gumbel() { return -std::log(-std::log(uniform())); }
  uint64_t below(uint64_t n) { return next_u64() % n; }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace sy
