// runtime/cpu/dnnl_gemm.cpp — oneDNN matmul primitives for the float GEMMs: cache, bf16 rounding, per-thread stream/scratchpad.
#include "runtime/cpu/dnnl_gemm.h"

#include "runtime/cpu/bf16_pack.h"
#include "runtime/cpu/cpu_parallel.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "runtime/error.h"

namespace sy {

namespace {

using dt = dnnl::memory::data_type;

std::atomic<uint64_t> g_next_instance{1};  // DnnlGemm instances, for per-thread bindings


// Every oneDNN call goes through here: the C++ API reports a failed status as
// dnnl::error, which becomes a typed error.  "Unimplemented" means this CPU or
// build lacks the kernel (bf16 on a CPU without AVX-512): a configuration the
// user chose, exit 2.  Anything else is a bug in how we call oneDNN.
template <class F>
auto dnnl_check(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented)
      throw ConfigError(std::string("oneDNN has no implementation of ") + what +
                        " on this CPU (train.precision = bf16 needs AVX-512; use fp32)");
    assertion_failed("oneDNN call", std::string(what) + ": " + e.what());
  }
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine = dnnl_check("engine creation", [] { return dnnl::engine(dnnl::engine::kind::cpu, 0); });
  return engine;
}

// A stream is not meant to be shared between threads; one per thread is cheap on the CPU.
dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream = dnnl_check("stream creation", [] { return dnnl::stream(cpu_engine()); });
  return stream;
}

// Per-thread growable buffer, 64-byte aligned (scratchpads, bf16 copies of the operands).
class AlignedBuffer {
 public:
  ~AlignedBuffer() { std::free(data_); }
  void* get(size_t bytes) {
    if (bytes > size_) {
      std::free(data_);
      size_ = (bytes + 63) / 64 * 64;
      data_ = std::aligned_alloc(64, size_);
      SY_ASSERT(data_, "out of memory for a GEMM scratch buffer");
    }
    return data_;
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

struct ThreadScratch {
  AlignedBuffer pad, a16, b16, reorder_pad;
};
ThreadScratch& thread_scratch() {
  thread_local ThreadScratch s;
  return s;
}

// Threads oneDNN will use for a primitive created or run here.
int current_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

// Sets this thread's OpenMP team size for the scope (oneDNN reads it when it
// creates and when it runs a primitive); restores the previous one.
class OmpThreads {
 public:
  explicit OmpThreads(bool one) : saved_(one ? omp_get_max_threads() : 0) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~OmpThreads() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_;
};

// An operand this large is rounded on the loop threads (cpu_parallel.h: one
// hand-off, no OpenMP barrier), unless the GEMM already runs on one thread of
// a grouped call.  Smaller ones stay on the calling thread.
constexpr int64_t kParallelPackElems = int64_t(1) << 18;
bool pack_in_parallel(int64_t elems) {
  return elems >= kParallelPackElems && cpu_loop_threads() > 1 && !omp_in_parallel();
}

// x[rows, cols] (leading dimension ld) rounded into a dense bf16 copy.
void round_rows(int64_t rows, int64_t cols, const float* x, int64_t ld, uint16_t* out) {
  if (!pack_in_parallel(rows * cols)) {
    pack_bf16_dense(rows, cols, x, ld, false, out);
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, (int64_t(1) << 15) / cols), [&](int64_t lo, int64_t hi) {
    pack_bf16_dense(hi - lo, cols, x + lo * ld, ld, false, out + lo * cols);
  });
}

// pack_bf16_vnni, split by 64-column blocks over the loop threads when large.
void pack_vnni(int64_t K, int64_t N, const float* x, int64_t ld, bool trans, uint16_t* out) {
  const int64_t KB = (K + 31) / 32, NB = (N + 63) / 64;
  if (!pack_in_parallel(K * N) || NB < 2) {
    pack_bf16_vnni(K, N, x, ld, trans, out);
    return;
  }
  parallel_for(NB, 1, [&](int64_t lo, int64_t hi) { pack_bf16_vnni_blocks(K, N, x, ld, trans, out, 0, KB, lo, hi); });
}

}  // namespace

bool dnnl_has_avx512_kernels() {
  return dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
}

void set_dnnl_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

struct DnnlGemm::Cache {
  struct Entry {
    dnnl::matmul prim;
    dnnl::memory::desc a, b, c;  // the matmul's operands
    // bf16 only: A is rounded into a dense row-major copy by pack_bf16_dense; B
    // into the matmul's preferred layout, by pack_bf16_vnni or pack_bf16_dense
    // when that is the layout, else by a oneDNN reorder from the f32 view.
    enum class BPack { vnni, dense, reorder } b_pack = BPack::reorder;
    dnnl::memory::desc b_f32;
    dnnl::reorder to_b;
    size_t pad_bytes = 0, a_bytes = 0, b_bytes = 0, reorder_pad_bytes = 0;
  };
  // (trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha bits, beta bits, threads)
  using Key = std::array<int64_t, 11>;
  std::mutex mutex;
  std::map<Key, Entry> entries;
};

DnnlGemm::DnnlGemm(bool bf16, size_t max_cached_shapes)
    : bf16_(bf16),
      instance_(g_next_instance.fetch_add(1)),
      max_cached_shapes_(max_cached_shapes),
      cache_(std::make_unique<Cache>()),
      weights_(std::make_unique<Bf16WeightCache>()) {
  // Probe once so a CPU without the kernel fails at start-up (exit 2), not mid-step.
  float a[4] = {1, 2, 3, 4}, c[4] = {};
  gemm(false, false, 2, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
}

DnnlGemm::~DnnlGemm() = default;

namespace {

// op(X)[rows, cols] of a stored row-major matrix with leading dimension ld: a
// strided view, transposing swaps the strides.
dnnl::memory::desc view(int64_t rows, int64_t cols, dt type, bool trans, int64_t ld) {
  return dnnl::memory::desc({rows, cols}, type, trans ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1});
}

dnnl::memory::desc byte_desc(size_t bytes) {
  return dnnl::memory::desc({static_cast<int64_t>(bytes)}, dt::u8, dnnl::memory::dims{1});
}

thread_local int t_library_depth = 0;

// Marks a oneDNN primitive execution on this thread (see inside_dnnl_execute).
struct LibraryCall {
  LibraryCall() { ++t_library_depth; }
  ~LibraryCall() { --t_library_depth; }
};

}  // namespace

bool inside_dnnl_execute() { return t_library_depth > 0; }

// Memory objects and argument maps of one cached primitive, bound once per
// thread and re-pointed at each call's buffers with set_data_handle: building
// them per call allocated a dozen small objects per GEMM (the steady-state
// step loop must not allocate).  Keyed by (DnnlGemm instance, entry), never by
// address alone: a later DnnlGemm may reuse a destroyed one's addresses.
struct DnnlGemm::Bound {
  std::unordered_map<int, dnnl::memory> args, reorder_args;
  void set(int arg, void* p) { args.at(arg).set_data_handle(p); }
  void set_reorder(int arg, void* p) { reorder_args.at(arg).set_data_handle(p); }
};

DnnlGemm::Bound& DnnlGemm::bound_args(uint64_t instance, const void* entry_ptr) {
  thread_local std::map<std::pair<uint64_t, const void*>, Bound> per_thread;
  auto key = std::make_pair(instance, entry_ptr);
  auto it = per_thread.find(key);
  if (it != per_thread.end()) return it->second;
  LibraryCall new_shape;  // once per shape and thread, like the primitive itself
  return per_thread.emplace(key, make_bound(entry_ptr)).first->second;
}

DnnlGemm::Bound DnnlGemm::make_bound(const void* entry_ptr) {
  const auto* entry = static_cast<const Cache::Entry*>(entry_ptr);
  const dnnl::engine& eng = cpu_engine();
  Bound b;
  auto mem = [&](const dnnl::memory::desc& d) { return dnnl::memory(d, eng, DNNL_MEMORY_NONE); };
  b.args.emplace(DNNL_ARG_SRC, mem(entry->a));
  b.args.emplace(DNNL_ARG_WEIGHTS, mem(entry->b));
  b.args.emplace(DNNL_ARG_DST, mem(entry->c));
  if (entry->pad_bytes) b.args.emplace(DNNL_ARG_SCRATCHPAD, mem(byte_desc(entry->pad_bytes)));
  if (entry->b_pack == Cache::Entry::BPack::reorder && entry->to_b) {
    b.reorder_args.emplace(DNNL_ARG_FROM, mem(entry->b_f32));
    b.reorder_args.emplace(DNNL_ARG_TO, mem(entry->b));
    if (entry->reorder_pad_bytes) b.reorder_args.emplace(DNNL_ARG_SCRATCHPAD, mem(byte_desc(entry->reorder_pad_bytes)));
  }
  return b;
}

void DnnlGemm::gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) const {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // alpha·(empty sum) = 0: only the beta term is left
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) C[m * ldc + n] = beta == 0.0f ? 0.0f : beta * C[m * ldc + n];
    return;
  }
  const OmpThreads team(2.0 * double(M) * double(N) * double(K) < kSingleThreadFlops);
  const Cache::Key key{ta, tb, M, N, K, lda, ldb, ldc, std::bit_cast<uint32_t>(alpha), std::bit_cast<uint32_t>(beta),
                       current_threads()};
  const Cache::Entry* entry;
  std::optional<Cache::Entry> uncached;  // a shape met after the cache is full
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->entries.find(key);
    if (it == cache_->entries.end()) {
      LibraryCall in_library;
      Cache::Entry e = dnnl_check(bf16_ ? "a bf16 matmul" : "an f32 matmul", [&] {
        Cache::Entry e;
        const dnnl::engine& eng = cpu_engine();
        e.c = dnnl::memory::desc({M, N}, dt::f32, dnnl::memory::dims{ldc, 1});
        if (bf16_) {
          // B goes straight into the blocked layout the matmul prefers (the
          // AMX/AVX-512 bf16 kernels want it): no extra pass over B.
          e.b_f32 = view(K, N, dt::f32, tb, ldb);
          // A transposed (the weight-gradient GEMM dYᵀ·X) is rounded in its
          // stored layout, a fast row-wise pass, and handed over as a
          // transposed view: oneDNN's own copy routine transposes it while
          // blocking, which is cheaper than our scalar transposing loop.
          e.a = dnnl::memory::desc({M, K}, dt::bf16, ta ? dnnl::memory::format_tag::ba : dnnl::memory::format_tag::ab);
          e.b = dnnl::memory::desc({K, N}, dt::bf16, dnnl::memory::format_tag::any);
        } else {
          e.a = view(M, K, dt::f32, ta, lda);
          e.b = view(K, N, dt::f32, tb, ldb);
        }
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
        if (beta != 0.0f) {
          dnnl::post_ops po;
          po.append_sum(beta);
          attr.set_post_ops(po);
        }
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(e.a, e.b, e.c), attr, eng);
        e.b = pd.weights_desc();  // resolves `any`
        e.pad_bytes = pd.scratchpad_desc().get_size();
        e.prim = dnnl::matmul(pd);
        if (bf16_) {
          e.a_bytes = e.a.get_size();
          e.b_bytes = e.b.get_size();
          if (e.b == dnnl::memory::desc({K, N}, dt::bf16, dnnl::memory::format_tag::BA16a64b2a)) {
            e.b_pack = Cache::Entry::BPack::vnni;
          } else if (e.b == dnnl::memory::desc({K, N}, dt::bf16, dnnl::memory::format_tag::ab)) {
            e.b_pack = Cache::Entry::BPack::dense;
          } else {
            dnnl::primitive_attr user_pad;  // the library's own scratchpad is shared between threads
            user_pad.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            dnnl::reorder::primitive_desc rb(eng, e.b_f32, eng, e.b, user_pad);
            e.reorder_pad_bytes = rb.scratchpad_desc().get_size();
            e.to_b = dnnl::reorder(rb);
          }
        }
        return e;
      });
      if (cache_->entries.size() < max_cached_shapes_) {
        it = cache_->entries.emplace(key, std::move(e)).first;
      } else {
        uncached.emplace(std::move(e));
      }
    }
    entry = uncached ? &*uncached : &it->second;  // std::map nodes are stable; entries are never erased
  }

  dnnl_check("matmul execution", [&] {
    dnnl::stream& strm = thread_stream();
    ThreadScratch& scratch = thread_scratch();
    std::optional<Bound> local;
    if (uncached) {
      LibraryCall new_shape;
      local.emplace(make_bound(entry));
    }
    Bound& bound = uncached ? *local : bound_args(instance_, entry);
    if (bf16_) {
      auto* a16 = static_cast<uint16_t*>(scratch.a16.get(entry->a_bytes));
      auto* b16 = static_cast<uint16_t*>(scratch.b16.get(entry->b_bytes));
      // op(A) as stored: [M, K], or [K, M] when transposed.
      round_rows(ta ? K : M, ta ? M : K, A, lda, a16);
      bound.set(DNNL_ARG_SRC, a16);
      bound.set(DNNL_ARG_WEIGHTS, b16);
      switch (entry->b_pack) {
        case Cache::Entry::BPack::vnni:
          if (const uint16_t* cached = weights_->packed(B, tb, K, N, ldb)) {
            bound.set(DNNL_ARG_WEIGHTS, const_cast<uint16_t*>(cached));
          } else {
            pack_vnni(K, N, B, ldb, tb, b16);
          }
          break;
        case Cache::Entry::BPack::dense: pack_bf16_dense(K, N, B, ldb, tb, b16); break;
        case Cache::Entry::BPack::reorder: {
          bound.set_reorder(DNNL_ARG_FROM, const_cast<float*>(B));
          bound.set_reorder(DNNL_ARG_TO, b16);
          if (entry->reorder_pad_bytes)
            bound.set_reorder(DNNL_ARG_SCRATCHPAD, scratch.reorder_pad.get(entry->reorder_pad_bytes));
          LibraryCall in_library;
          entry->to_b.execute(strm, bound.reorder_args);
          break;
        }
      }
    } else {
      bound.set(DNNL_ARG_SRC, const_cast<float*>(A));
      bound.set(DNNL_ARG_WEIGHTS, const_cast<float*>(B));
    }
    bound.set(DNNL_ARG_DST, C);
    if (entry->pad_bytes) bound.set(DNNL_ARG_SCRATCHPAD, scratch.pad.get(entry->pad_bytes));
    LibraryCall in_library;
    entry->prim.execute(strm, bound.args);
    strm.wait();
  });
}

}  // namespace sy
