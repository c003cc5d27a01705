// io/checksum.h — xxh64: the 64-bit checksum every checkpoint dataset carries.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sy {

// XXH64 (xxHash, 64-bit variant) with seed 0.  Chosen because it is specified,
// runs at memory speed without SIMD intrinsics, and Python can reproduce it
// (`xxhash.xxh64(array.tobytes()).intdigest()`).  We hash the little-endian
// float32 bytes exactly as stored in the file.
//
// Streaming form: feeding the bytes in any pieces gives the one-shot value, so
// a dataset can be hashed block by block while each block is still in cache.
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  uint64_t lanes_[4];
  uint64_t seed_;
  uint64_t total_ = 0;
  unsigned char pending_[32];  // bytes of an incomplete 32-byte stripe
  size_t pending_size_ = 0;
};

uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace sy
