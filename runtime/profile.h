// runtime/profile.h — cheap scoped phase timers for one training step (off unless SWITCHYARD_PROFILE=1 or enabled in code).
//
// Exclusive timing: a Scope pauses the scope it interrupts, so nested scopes
// never count the same nanosecond twice and the phases of a step add up to the
// step.  Time is split by direction (forward / backward) because a phase such
// as attention costs differently each way; Transformer marks the backward.
// State is per thread and fixed-size: no allocation, no lock; two steady_clock
// reads per scope when enabled and one predictable branch when not.
#pragma once
#include <cstdint>
#include <cstdio>

namespace sy::prof {

enum class Phase : int {
  other,            // step time outside every labelled scope (trainer glue, data)
  embedding,
  norm,
  attn_proj,        // q/k/v/out projection GEMMs (+ bias)
  attn_core,        // rope + blocked causal attention kernel
  residual,         // residual adds
  router,           // router GEMM, softmax, top-k, statistics, router backward
  dispatch_plan,    // permutation plan, chunk plans, count exchange
  permute,          // gather rows into expert order / scatter-add back
  experts,          // routed expert MLPs (GEMMs + activations)
  combine,          // weighted un-permute and its backward
  a2a_wait,         // blocked in an expert-parallel exchange (counts or rows): comm time plus waiting for peers
  shared_experts,   // shared expert MLPs
  dense_mlp,        // dense FFN layers
  activation,       // elementwise activations inside any MLP (GELU, SwiGLU)
  lm_head,          // logits GEMM + head backward GEMMs
  cross_entropy,    // softmax + cross-entropy + logits gradient over the vocabulary
  grad_sync,        // waiting for the gradient all-reduce
  grad_norm,        // global gradient norm
  optimizer,        // AdamW
  count_
};
constexpr int kPhases = static_cast<int>(Phase::count_);
const char* phase_name(Phase p);

// Read once from SWITCHYARD_PROFILE (1 = on, rank 0 reports; all = on, every rank reports);
// set_enabled overrides it.
bool enabled();
bool every_rank_reports();
void set_enabled(bool on);

// Totals of the calling thread since the last reset, in nanoseconds, [phase][0 = forward, 1 = backward].
struct Totals {
  int64_t ns[kPhases][2] = {};
  int64_t calls[kPhases][2] = {};
};
const Totals& totals();
// Zeroes the totals and (re)starts attributing time to Phase::other.
void reset();
// Closes the running interval so totals() includes time up to now.
void flush();

// Prints the calling thread's totals divided by `steps` as a table (ms per step,
// forward / backward / total / share) under a header naming `who` (e.g. "rank 1").
void print_report(std::FILE* out, int64_t steps, const char* who = nullptr);

void enter(Phase p, int& saved_phase);
void leave(int saved_phase);
void set_backward(bool on);

// RAII: time from here to the end of the scope goes to `p` (minus nested scopes).
class Scope {
 public:
  explicit Scope(Phase p) {
    if (enabled()) enter(p, saved_);
  }
  ~Scope() {
    if (saved_ >= 0) leave(saved_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  int saved_ = -1;
};

// RAII: scopes opened while it lives count as backward.
class BackwardSection {
 public:
  BackwardSection() { set_backward(true); }
  ~BackwardSection() { set_backward(false); }
  BackwardSection(const BackwardSection&) = delete;
  BackwardSection& operator=(const BackwardSection&) = delete;
};

}  // namespace sy::prof
