// runtime/tensor.cpp — shape formatting and the process's tensor memory.
#include "runtime/tensor.h"

#include <new>

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

TensorMemory host_tensor_memory() { return TensorMemory{"host", &host_allocate, &host_release, &host_zero}; }

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
