// runtime/cpu/cpu_parallel.h — the CPU backend's loop threads: parallel_for over index ranges on a helping pool.
//
// GEMMs bring their own threads (BLAS); everything else the backend does —
// attention, norms, activations, cross-entropy, router and permutation loops,
// AdamW — splits its outer loop with parallel_for.  The thread count is the
// backend's `threads` (make_cpu_backend), so ranks × threads never exceed what
// the launcher planned.  Ranges are split statically into contiguous pieces: a
// kernel whose pieces write disjoint outputs gives bit-identical results for
// any thread count.
#pragma once
#include <cstdint>

namespace sy {

// Threads used by parallel_for (≤ 0: keep the current setting; the default is 1
// until make_cpu_backend sets it, so unit tests stay single-threaded).
void set_cpu_loop_threads(int threads);
int cpu_loop_threads();

namespace detail {
// Runs body(piece) for piece in [0, pieces): the caller and cpu_loop_threads() − 1
// pool threads claim pieces; returns when all have run (cpu_parallel.cpp).
void run_pieces(int pieces, void (*body)(void*, int), void* ctx);
}  // namespace detail

// f(begin, end) over [0, n) in contiguous pieces of at least `grain` indices
// (up to 4 per thread, so a thread that is descheduled on a busy machine leaves
// its share to the others), with inner piece boundaries at multiples of
// `align`.  Runs inline on one thread.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f, int64_t align = 1) {
  if (n <= 0) return;
  const int threads = cpu_loop_threads();
  int64_t pieces = grain > 0 ? (n + grain - 1) / grain : n;
  if (pieces > 4 * int64_t(threads)) pieces = 4 * int64_t(threads);
  if (threads <= 1) pieces = 1;
  if (pieces <= 1) {
    f(int64_t(0), n);
    return;
  }
  struct Ctx {
    F* f;
    int64_t n, pieces, align;
    int64_t bound(int64_t piece) const {
      if (piece >= pieces) return n;
      return n * piece / pieces / align * align;
    }
  } ctx{&f, n, pieces, align > 0 ? align : 1};
  detail::run_pieces(
      static_cast<int>(pieces),
      [](void* c, int piece) {
        Ctx& x = *static_cast<Ctx*>(c);
        const int64_t b = x.bound(piece), e = x.bound(piece + 1);
        if (b < e) (*x.f)(b, e);
      },
      &ctx);
}

// Elementwise loops: a vectorised loop computes its scalar remainder with other
// instructions (FMA contraction, the vector exp), so an element must not move
// between the vector body and the remainder when the thread count changes.
// Boundaries at multiples of 64 elements (one AVX-512 vector × 4) keep every
// element on the same path as in a single-threaded run.
constexpr int64_t kElementAlign = 64;

}  // namespace sy
