// io/checksum.cpp — a portable implementation of XXH64 (reference: github.com/Cyan4973/xxHash).
#include "io/checksum.h"

#include <algorithm>
#include <cstring>

namespace sy {
namespace {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t P3 = 0x165667B19E3779F9ull;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
// memcpy keeps unaligned loads well-defined; the target is little-endian (x86-64, aarch64).
inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t round(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
inline uint64_t merge_round(uint64_t acc, uint64_t val) { return (acc ^ round(0, val)) * P1 + P4; }

// Consumes whole 32-byte stripes from p; returns the first byte not consumed.
const unsigned char* stripes(uint64_t* v, const unsigned char* p, const unsigned char* end) {
  uint64_t v1 = v[0], v2 = v[1], v3 = v[2], v4 = v[3];
  for (; end - p >= 32; p += 32) {
    v1 = round(v1, load64(p));
    v2 = round(v2, load64(p + 8));
    v3 = round(v3, load64(p + 16));
    v4 = round(v4, load64(p + 24));
  }
  v[0] = v1, v[1] = v2, v[2] = v3, v[3] = v4;
  return p;
}

}  // namespace

Xxh64::Xxh64(uint64_t seed) : lanes_{seed + P1 + P2, seed + P2, seed, seed - P1}, seed_(seed) {}

void Xxh64::update(const void* data, size_t size) {
  if (size == 0) return;  // data may be null
  const auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* end = p + size;
  total_ += size;
  if (pending_size_ > 0) {
    size_t take = std::min(size, 32 - pending_size_);
    std::memcpy(pending_ + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    if (pending_size_ < 32) return;
    stripes(lanes_, pending_, pending_ + 32);
    pending_size_ = 0;
  }
  p = stripes(lanes_, p, end);
  pending_size_ = static_cast<size_t>(end - p);
  std::memcpy(pending_, p, pending_size_);
}

uint64_t Xxh64::digest() const {
  uint64_t h;
  if (total_ >= 32) {
    const uint64_t* v = lanes_;
    h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
    for (int i = 0; i < 4; ++i) h = merge_round(h, v[i]);
  } else {
    h = seed_ + P5;
  }
  h += total_;
  const unsigned char* p = pending_;
  const unsigned char* end = pending_ + pending_size_;
  for (; p + 8 <= end; p += 8) h = rotl(h ^ round(0, load64(p)), 27) * P1 + P4;
  if (p + 4 <= end) {
    h = rotl(h ^ (static_cast<uint64_t>(load32(p)) * P1), 23) * P2 + P3;
    p += 4;
  }
  for (; p < end; ++p) h = rotl(h ^ (*p * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t xxh64(const void* data, size_t size, uint64_t seed) {
  Xxh64 h(seed);
  h.update(data, size);
  return h.digest();
}

}  // namespace sy
