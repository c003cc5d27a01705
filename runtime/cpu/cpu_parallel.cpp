// runtime/cpu/cpu_parallel.cpp — the helping thread pool behind parallel_for.
//
// Why not OpenMP: on this shared 2-core machine a parallel region ends at a
// barrier every team thread must reach, so one descheduled thread stalls the
// whole region for a time slice; with OpenMP the step got slower at 2 threads
// than at 1 while other jobs ran (bench/RESULTS.md, "Perf").  Here the calling
// thread claims pieces itself and waits only for pieces another thread has
// already claimed (and is therefore running): a worker that wakes late finds no
// work left and goes back to sleep without delaying anyone.  Workers sleep on a
// condition variable between loops (no spinning next to the BLAS threads).
#include "runtime/cpu/cpu_parallel.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sy {

namespace {

// Set on pool threads and while the caller runs pieces: a parallel_for inside a
// piece runs inline (one job at a time).
thread_local bool t_in_pool = false;

class HelpingPool {
 public:
  explicit HelpingPool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~HelpingPool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void run(int pieces, void (*body)(void*, int), void* ctx) {
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(m_);
      gen = ++generation_;
      body_ = body;
      ctx_ = ctx;
      pieces_ = pieces;
      done_.store(0, std::memory_order_relaxed);
      next_.store(gen << 32, std::memory_order_release);
    }
    cv_.notify_all();
    int mine = 0;
    for (int p; (p = claim(gen, pieces)) >= 0; ++mine) body(ctx, p);
    // Wait only for the pieces other threads claimed: they are running now.
    const int others = pieces - mine;
    while (done_.load(std::memory_order_acquire) < others) std::this_thread::yield();
  }

 private:
  // The next piece of job `gen`, or -1 when none is left (or the job has changed):
  // the generation lives in the counter's high half, so a late thread can never
  // take a piece of a newer job with an older job's body.
  int claim(uint64_t gen, int pieces) {
    uint64_t v = next_.load(std::memory_order_acquire);
    for (;;) {
      if ((v >> 32) != gen || int(v & 0xffffffffu) >= pieces) return -1;
      if (next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return int(v & 0xffffffffu);
    }
  }

  void work() {
    t_in_pool = true;
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen;
      void (*body)(void*, int);
      void* ctx;
      int pieces;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = gen = generation_;
        body = body_, ctx = ctx_, pieces = pieces_;
      }
      for (int p; (p = claim(gen, pieces)) >= 0;) {
        body(ctx, p);
        done_.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  void (*body_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  int pieces_ = 0;
  std::atomic<uint64_t> next_{0};
  std::atomic<int> done_{0};
};

int g_threads = 1;
std::mutex g_pool_mutex;
HelpingPool* g_pool = nullptr;  // threads − 1 workers; replaced when the count changes

}  // namespace

void set_cpu_loop_threads(int threads) {
  if (threads <= 0 || threads == g_threads) return;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  delete g_pool;
  g_pool = threads > 1 ? new HelpingPool(threads - 1) : nullptr;
  g_threads = threads;
}

int cpu_loop_threads() { return g_threads; }

namespace detail {
void run_pieces(int pieces, void (*body)(void*, int), void* ctx) {
  if (g_pool == nullptr || t_in_pool) {
    for (int p = 0; p < pieces; ++p) body(ctx, p);
    return;
  }
  t_in_pool = true;
  g_pool->run(pieces, body, ctx);
  t_in_pool = false;
}
}  // namespace detail

}  // namespace sy
