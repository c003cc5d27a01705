// tests/counting_new.h — the global operator new (every form) replaced by one that reports each allocation's size.
//
// For tests that assert what a training step allocates.  Include it in exactly
// one source file of a test executable (it defines the replaceable operators)
// and set sy::test::on_allocation; it is called on the allocating thread, for
// every thread, until set back to null.  Printing a backtrace from the hook
// (backtrace_symbols_fd) does not allocate.
#pragma once
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sy::test {

inline std::atomic<void (*)(std::size_t bytes)> on_allocation{nullptr};

inline void* counted_alloc(std::size_t n, std::size_t align) {
  if (auto* hook = on_allocation.load(std::memory_order_relaxed)) hook(n);
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                               : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

// The calling thread's stack, to stderr under a header line.
inline void print_backtrace(const char* header) {
  void* frames[24];
  const int depth = backtrace(frames, 24);
  (void)!write(2, header, std::strlen(header));
  backtrace_symbols_fd(frames, depth, 2);
}

}  // namespace sy::test

void* operator new(std::size_t n) { return sy::test::counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return sy::test::counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return sy::test::counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) {
  return sy::test::counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return sy::test::counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try { return sy::test::counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
