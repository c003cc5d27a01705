// runtime/cpu/cpu_parallel.cpp — the OpenMP region behind parallel_for.
#include "runtime/cpu/cpu_parallel.h"

#include <omp.h>

#include <cstdlib>

namespace sy {

namespace {
int g_threads = 1;

// OpenMP's default wait policy spins after every parallel region.  Next to
// OpenBLAS's own pthreads (which also spin) on a 2-core machine that halved the
// whole step (bench/RESULTS.md, "Perf": AdamW 659 ms → 112 ms, grad norm 550 →
// 46 ms per step with PASSIVE).  libgomp reads OMP_WAIT_POLICY once, in its own
// constructor, before main() and before any static initialiser of ours; an
// executable's .preinit_array runs before every shared library's constructors,
// so the default is set there.  A value the user exported wins (overwrite = 0).
void default_omp_wait_policy(int, char**, char**) { setenv("OMP_WAIT_POLICY", "PASSIVE", 0); }
__attribute__((section(".preinit_array"), used)) void (*const preinit_omp_wait_policy)(int, char**, char**) =
    &default_omp_wait_policy;
}  // namespace

void set_cpu_loop_threads(int threads) {
  if (threads > 0) g_threads = threads;
}

int cpu_loop_threads() { return g_threads; }

namespace detail {
void run_pieces(int pieces, void (*body)(void*, int), void* ctx) {
#pragma omp parallel for num_threads(pieces) schedule(static, 1)
  for (int p = 0; p < pieces; ++p) body(ctx, p);
}
}  // namespace detail

}  // namespace sy
