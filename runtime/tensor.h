// runtime/tensor.h — Tensor<T>: a contiguous row-major buffer with a shape, owning or viewing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace sy {

using Shape = std::vector<int64_t>;

// Where Tensor storage comes from.  Host memory by default; the trainer installs
// memory its compute device can address too (CUDA managed memory for
// train.device = cuda) once, before the model allocates anything.  `zero` fills
// bytes with 0 where the memory lives (a device memset for device memory).
struct TensorMemory {
  const char* name = "host";
  void* (*allocate)(size_t bytes) = nullptr;
  void (*release)(void* p) = nullptr;
  void (*zero)(void* p, size_t bytes) = nullptr;
  // Zeroes bytes that are not read again soon (the gradients at the start of a
  // step); null means `zero`.  Host memory uses streaming stores: memset reads
  // every line before writing it, and zeroing bench-fairseq's 80 M gradients
  // (4 MB tensors) that way took 36–44 ms against 13–15 with streaming stores.
  void (*zero_cold)(void* p, size_t bytes) = nullptr;
};
// The host default: 64-byte aligned operator new (AVX-512 loads), memset, and
// streaming stores for zero_cold.
TensorMemory host_tensor_memory();
// Host memory's zero_cold (tensor.cpp).
void host_zero_cold(void* p, size_t bytes);
// Tensors allocated after this call use `m`; each tensor is released with the memory it came from.
void set_tensor_memory(const TensorMemory& m);
const TensorMemory& tensor_memory();

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
std::string shape_str(const Shape& s);

// No autograd and no strides: layers pass raw row-major buffers to backend
// kernels.  A view shares its parent's storage (it keeps it alive).
template <class T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape) { resize(std::move(shape)); }

  // Non-owning view of external memory.
  static Tensor view(T* data, Shape shape) {
    Tensor t;
    t.data_ = data;
    t.shape_ = std::move(shape);
    return t;
  }

  // Reshape to `shape`, zero-filled.  Reallocates only when the owned capacity is
  // too small, so buffers reused every step stop allocating after the first.
  void resize(Shape shape) {
    ensure_capacity(shape_numel(shape));
    shape_ = std::move(shape);
    zero();
  }
  // The same for a braced shape, t.resize({N, d}): assigns into the existing
  // shape vector, so a steady-state resize allocates nothing at all.
  void resize(std::initializer_list<int64_t> dims) {
    resize_for_overwrite(dims);
    zero();
  }
  // resize without the zero fill, for a buffer whose every element the caller
  // writes before reading (an all-to-all's landing rows): contents are stale.
  void resize_for_overwrite(std::initializer_list<int64_t> dims) {
    int64_t n = 1;
    for (int64_t x : dims) n *= x;
    ensure_capacity(n);
    shape_.assign(dims.begin(), dims.end());
  }
  // Makes this tensor a non-owning view of `data` with shape `dims`, reusing the
  // shape vector (no allocation): how a layer points saved activations into an arena.
  void set_view(T* data, std::initializer_list<int64_t> dims) {
    storage_.reset();
    zero_ = &zero_host;
    data_ = data;
    capacity_ = 0;
    shape_.assign(dims.begin(), dims.end());
  }
  // Whether the shape equals `dims` (no temporary Shape).
  bool has_shape(std::initializer_list<int64_t> dims) const {
    return shape_.size() == dims.size() && std::equal(dims.begin(), dims.end(), shape_.begin());
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int64_t numel() const { return shape_numel(shape_); }
  bool empty() const { return data_ == nullptr || numel() == 0; }
  // Elements per index of dim 0.
  int64_t row_size() const { return shape_numel(Shape(shape_.begin() + (shape_.empty() ? 0 : 1), shape_.end())); }

  T& operator[](int64_t i) { return data_[i]; }
  const T& operator[](int64_t i) const { return data_[i]; }

  void zero() {
    if (data_ && numel() > 0) zero_(static_cast<void*>(data_), sizeof(T) * numel());
  }
  // zero() for a buffer nothing reads before it is written again much later
  // (TensorMemory::zero_cold): the zeros bypass the caches.
  void zero_cold() {
    if (data_ && numel() > 0) zero_cold_(static_cast<void*>(data_), sizeof(T) * numel());
  }

  // View of rows [begin, end) along dim 0.
  Tensor rows(int64_t begin, int64_t end) const {
    SY_ASSERT(rank() >= 1 && begin >= 0 && begin <= end && end <= dim(0), "row range out of bounds");
    Tensor t = *this;
    t.data_ = data_ + begin * row_size();
    t.shape_[0] = end - begin;
    t.capacity_ = 0;  // a view never reallocates
    return t;
  }
  // View with another shape of the same element count.
  Tensor reshaped(Shape shape) const {
    SY_ASSERT(shape_numel(shape) == numel(), "reshape " + shape_str(shape_) + " -> " + shape_str(shape));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    t.capacity_ = 0;
    return t;
  }

 private:
  // First allocation: exactly n.  A buffer that must grow again (MoE landing
  // rows, expert activations: their row counts follow the routing, step after
  // step) grows by at least half, so a slowly rising maximum costs a few
  // reallocations, not one (with page faults and, for resize, a zero fill of
  // fresh memory) at every new maximum.
  void ensure_capacity(int64_t n) {
    if (n <= capacity_) return;
    SY_ASSERT(data_ == nullptr || storage_, "cannot grow a view");
    const int64_t grown = storage_ ? std::max(n, capacity_ + capacity_ / 2) : n;
    storage_ = allocate(grown);
    data_ = storage_.get();
    capacity_ = grown;
  }
  std::shared_ptr<T[]> allocate(int64_t n) {
    const TensorMemory& m = tensor_memory();
    zero_ = m.zero;
    zero_cold_ = m.zero_cold ? m.zero_cold : m.zero;
    return std::shared_ptr<T[]>(static_cast<T*>(m.allocate(sizeof(T) * n)), [release = m.release](T* q) { release(q); });
  }
  // Views of external memory are host memory (tests, checkpoint I/O); owned storage
  // zeroes the way its memory does.
  static void zero_host(void* p, size_t bytes) { std::memset(p, 0, bytes); }

  std::shared_ptr<T[]> storage_;
  void (*zero_)(void*, size_t) = &zero_host;
  void (*zero_cold_)(void*, size_t) = &host_zero_cold;
  T* data_ = nullptr;
  Shape shape_;
  int64_t capacity_ = 0;
};

}  // namespace sy
