// model/moe_layer.h — MoeLayer<T>: router, dispatch, experts, weighted combine, shared experts, aux/z losses, loss-free bias.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/dispatch_plan.h"
#include "model/dispatcher.h"
#include "model/mlp.h"
#include "model/router.h"
#include "model/step_context.h"

namespace sy {

// What the last forward measured (DESIGN.md §3 and the metrics of §6).
struct MoeStats {
  double aux = 0;  // E·Σ_e f_e·P_e, with f and P of the configured scope (global: equal on every rank)
  double z = 0;    // mean over the micro-batch's tokens of logsumexp(r)²
  double router_entropy = 0;           // mean over tokens of −Σ_e p_e log p_e
  std::vector<int64_t> expert_counts;  // [E] assignments per expert before drops, this micro-batch
  int64_t assignments = 0;             // N·k
  int64_t dropped = 0;                 // assignments dropped by the capacity
  double dropped_frac = 0;             // dropped / assignments
};

// y = Σ_{e∈K(t), kept} g_e·Expert_e(u_t) + Σ_s Shared_s(u_t) for u = Norm2(a) [N, d].
//
// Parameters under `prefix` ("decoder/layers/{l}/moe_layer"):
//   gate/wg/weight [E, d]                 router, dense
//   gate/expert_bias [E]                  loss-free balancing bias, non-trainable (bias_update_rate > 0)
//   experts/{g}/fc1, fc2[, fc3]           routed experts g ∈ [p·L, (p+1)·L) of this EP rank p, ExpertTag{layer, g}
//   shared_experts/{s}/fc1, fc2[, fc3]    shared experts, dense
//
// The step loss contains loss_scale·(aux_loss_coef·aux + z_loss_coef·z) from this
// layer; backward adds that term's gradient itself.  With aux_loss_scope =
// global, aux uses f and P averaged over the micro-batches of all ranks; the
// step loss counts that common value once per rank, so the gradient on a rank's
// probabilities is loss_scale·coef·E·f_e / N_local — the same formula as micro.
// (Eval forwards report the micro-scope aux: the all-reduce runs only in training.)
//
// One forward, then its backward: the layer keeps what the backward needs.
template <class T>
class MoeLayer {
 public:
  MoeLayer(ParameterSet<T>& params, const std::string& prefix, int layer, const ModelConfig& model,
           const MoeConfig& moe, int ep_rank, int ep_size, int a2a_chunks = 1);

  // parallel.a2a_chunks: the micro-batch's kept rows are split by token range into
  // C chunks whose all-to-alls overlap the experts' work on neighbouring chunks.
  // Routing, drops and statistics are decided over the whole micro-batch first,
  // and every token's output and input gradient add the same terms in the same
  // order for any C; only expert weight gradients (sums over rows, now chunk by
  // chunk) differ by float reordering.  Every rank of the EP group must use the same C.
  void set_a2a_chunks(int chunks);
  int a2a_chunks() const { return a2a_chunks_; }

  // y [N, d] overwritten (no residual).  Collective over the dispatcher's EP group.
  // Pipeline: dispatch(0) in flight while the shared experts run; then for each
  // chunk c, dispatch(c+1) and combine(c−1) in flight while the experts run chunk c.
  void forward(const Backend<T>& be, const StepContext& ctx, const T* u, T* y, Dispatcher<T>& dispatcher);
  // du [N, d] overwritten; parameter gradients accumulated, including those of the aux and z terms.
  // The mirror image: combine_backward(0) in flight while the router and shared
  // experts run backward; then combine_backward(c+1) and dispatch_backward(c−1)
  // in flight while the experts run chunk c backward, and dispatch_backward(c)
  // while chunk c's expert weight gradients are computed (after its input gradients).
  void backward(const Backend<T>& be, const StepContext& ctx, const T* u, const T* dy, T* du,
                Dispatcher<T>& dispatcher);

  const MoeStats& stats() const { return stats_; }
  const DispatchPlan& plan() const { return plan_; }
  const RouterActivations<T>& router_activations() const { return router_acts_; }

  // Loss-free balancing.  Training forwards add their counts (before drops) here;
  // the trainer sums them over the world after the step, calls
  // update_expert_bias with the sums, then resets.
  const std::vector<int64_t>& step_expert_counts() const { return step_counts_; }
  void reset_step_expert_counts();
  // b_e += bias_update_rate · sign(mean(c) − c_e); sign(0) = 0.
  void update_expert_bias(const int64_t* global_counts);
  // step_expert_counts() summed over every rank of the world (collective, via
  // Dispatcher::allreduce_sum): what update_expert_bias wants.
  std::vector<int64_t> global_step_expert_counts(Dispatcher<T>& dispatcher) const;

  int layer() const { return layer_; }
  int num_experts() const { return num_experts_; }
  int local_experts() const { return static_cast<int>(experts_.size()); }
  int first_expert() const { return ep_rank_ * local_experts(); }
  const Router<T>& router() const { return router_; }

 private:
  int layer_ = 0;
  int64_t d_model_ = 0;
  int num_experts_ = 0, top_k_ = 0;
  int ep_rank_ = 0, ep_size_ = 1;
  int a2a_chunks_ = 1;
  MoeConfig cfg_;
  Router<T> router_;
  std::vector<Mlp<T>> experts_;  // local experts, global id first_expert() + j
  std::vector<Mlp<T>> shared_;

  MoeStats stats_;
  std::vector<int64_t> step_counts_;

  // Saved by forward for backward.
  int64_t tokens_ = 0;
  std::vector<T> aux_dprob_unit_;  // E·f_e / N: ∂aux/∂p[n, e] as the step loss sees it
  RouterActivations<T> router_acts_;
  DispatchPlan plan_;                      // the whole micro-batch
  std::vector<DispatchPlan> chunk_plans_;  // [C] its rows by token range
  // [C] chunk c's row_token and row_assignment copied to tensor memory: the
  // permutation kernels read them on the compute device (the plan is host logic).
  std::vector<Tensor<int32_t>> row_token_, row_assignment_;
  std::vector<ExpertLayout> layouts_;      // [C]
  std::vector<int64_t> row_begin_;         // [C + 1] chunk c's rows in sorted_in_ / d_back_ (sender side)
  std::vector<int64_t> recv_begin_;        // [C + 1] chunk c's rows in expert_out_ / d_recv_ (expert side)
  Tensor<T> sorted_in_;                    // [plan rows, d] gathered u, chunk after chunk
  std::vector<Tensor<T>> recv_bufs_, back_bufs_;  // [C] the dispatcher's landing buffers
  std::vector<const T*> recv_;             // [C] chunk c's expert inputs [recv rows of c, d]
  std::vector<const T*> back_;             // [C] chunk c's expert outputs in chunk-plan order
  Tensor<T> expert_out_;                   // [Σ recv rows, d]
  std::vector<std::vector<MlpActivations<T>>> expert_acts_;  // [C][L]
  std::vector<MlpActivations<T>> shared_acts_;
  Tensor<T> shared_out_;
  // Backward scratch.
  Tensor<T> dgate_, d_back_, d_recv_;
  std::vector<Tensor<T>> dx_bufs_;  // [C] landing buffers of the input gradients sent back
  // Reused every step so steady-state steps do not allocate.
  std::vector<double> stat_buf_;           // [2E + 1] f, P and the micro-batch count
  Tensor<T> aux_dprob_;                    // [E] (an op operand: tensor memory)
  std::vector<RowTransfer<T>> transfers_;  // [C] combines (forward) or returns (backward) in flight
  std::string layer_label_;                // "layer l"
  std::vector<std::string> chunk_labels_;  // [C] "layer l chunk c"
  // The routed experts' saved activations (h1, a, da[, h3]) of every chunk, one
  // arena [kinds, rows, hidden]; expert_acts_ are views into it (bind_expert_arena).
  Tensor<T> arena_;
  int64_t arena_rows_ = 0;
  int64_t arena_kinds_ = 3;
  bool swiglu_ = false;

  std::string chunk_label(int c) const;
  void gather_chunk(const Backend<T>& be, int c, const T* u);
  void bind_expert_arena(int64_t N);
  void experts_forward(const Backend<T>& be, int c);
  // Chunk c's expert backward in two halves (Mlp::backward_group_data / _weights):
  // d_recv_ rows first, so they can be sent back before the weight gradients.
  void experts_backward_data(const Backend<T>& be, int c, const T* d_out);
  void experts_backward_weights(const Backend<T>& be, int c, const T* d_out);
};

}  // namespace sy
