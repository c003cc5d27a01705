// runtime/tensor.cpp — shape formatting and the process's tensor memory.
#include "runtime/tensor.h"

#include <cstdint>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sy {

namespace {
constexpr std::align_val_t kHostAlign{64};
void* host_allocate(size_t bytes) { return ::operator new[](bytes, kHostAlign); }
void host_release(void* p) { ::operator delete[](p, kHostAlign); }
void host_zero(void* p, size_t bytes) { std::memset(p, 0, bytes); }

TensorMemory& current_memory() {
  static TensorMemory m = host_tensor_memory();
  return m;
}
}  // namespace

TensorMemory host_tensor_memory() {
  return TensorMemory{"host", &host_allocate, &host_release, &host_zero, &host_zero_cold};
}

// Whole 64-byte lines with streaming (non-temporal) stores, which write a line
// without reading it first and leave the caches alone; the unaligned ends and
// small buffers (which may as well stay cached) with memset.
void host_zero_cold(void* p, size_t bytes) {
  constexpr size_t kStreamFrom = size_t(64) << 10;
  char* c = static_cast<char*>(p);
  if (bytes < kStreamFrom) {
    std::memset(c, 0, bytes);
    return;
  }
  const size_t head = (64 - (reinterpret_cast<uintptr_t>(c) & 63)) & 63;
  std::memset(c, 0, head);
  const size_t lines = (bytes - head) / 64;
  char* body = c + head;
#if defined(__SSE2__)
  const __m128i z = _mm_setzero_si128();
  for (size_t i = 0; i < lines; ++i) {
    __m128i* q = reinterpret_cast<__m128i*>(body + 64 * i);
    _mm_stream_si128(q, z), _mm_stream_si128(q + 1, z), _mm_stream_si128(q + 2, z), _mm_stream_si128(q + 3, z);
  }
  _mm_sfence();  // the streamed zeros are visible before any later store
#else
  std::memset(body, 0, 64 * lines);
#endif
  std::memset(body + 64 * lines, 0, bytes - head - 64 * lines);
}

void set_tensor_memory(const TensorMemory& m) {
  SY_ASSERT(m.allocate && m.release && m.zero, std::string("tensor memory '") + m.name + "' is missing a function");
  current_memory() = m;
}

const TensorMemory& tensor_memory() { return current_memory(); }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace sy
