// runtime/cpu/cpu_parallel.h — the CPU backend's loop threads: parallel_for over index ranges on OpenMP.
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
// Runs body(piece) for piece in [0, pieces) on up to cpu_loop_threads() threads.
void run_pieces(int pieces, void (*body)(void*, int), void* ctx);
}  // namespace detail

// f(begin, end) over [0, n) in contiguous pieces of at least `grain` indices
// (at most one piece per thread).  Runs inline when one piece suffices.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int threads = cpu_loop_threads();
  int64_t pieces = grain > 0 ? (n + grain - 1) / grain : n;
  if (pieces > threads) pieces = threads;
  if (pieces <= 1) {
    f(int64_t(0), n);
    return;
  }
  struct Ctx {
    F* f;
    int64_t n, pieces;
  } ctx{&f, n, pieces};
  detail::run_pieces(
      static_cast<int>(pieces),
      [](void* c, int piece) {
        Ctx& x = *static_cast<Ctx*>(c);
        (*x.f)(x.n * piece / x.pieces, x.n * (piece + 1) / x.pieces);
      },
      &ctx);
}

}  // namespace sy
