// model/dispatch_plan.h — DispatchPlan: kept assignments under a capacity and their rows in the expert-sorted buffer.
#pragma once
#include <cstdint>
#include <vector>

namespace sy {

// Host logic, shared by every backend: the router's expert indices come to the
// host, the plan is built here, and its int32 index arrays drive the gather /
// combine kernels and the dispatcher's all-to-all.
//
// Assignments are numbered a = n·k + j (token n, its j-th choice, j = 0 the best).
// Placement order under a capacity: every first choice before any second choice,
// and so on, each in token order n = b·T + t; an expert takes assignments until it
// holds `capacity`, later ones are dropped.  Kept rows are grouped by expert
// (ascending global id, so one GEMM per expert) and, within an expert, keep that
// placement order.  Because experts are sorted, the rows for EP peer p (experts
// [p·L, (p+1)·L)) are contiguous: rank_offsets[p] .. rank_offsets[p+1].
struct DispatchPlan {
  int64_t tokens = 0;    // N, local tokens of the micro-batch
  int top_k = 0;         // k
  int num_experts = 0;   // E, global
  int ep_size = 1;       // EP peers the rows are split between (L = E / ep_size experts each)
  int64_t capacity = 0;  // rows per expert, 0 = dropless

  std::vector<int64_t> counts_before_drop;  // [E] assignments that chose e
  std::vector<int64_t> counts;              // [E] kept rows of expert e
  std::vector<int64_t> offsets;             // [E + 1] first row of expert e in the sorted buffer
  std::vector<int64_t> rank_counts;         // [ep_size] rows sent to EP peer p
  std::vector<int64_t> rank_offsets;        // [ep_size + 1]
  int64_t dropped = 0;                      // assignments dropped by the capacity

  // Per kept row, in expert-sorted order ([rows()] each):
  std::vector<int32_t> row_token;       // n: the token the row is a copy of
  std::vector<int32_t> row_slot;        // j: which of the token's choices
  std::vector<int32_t> row_expert;      // e: global expert id
  std::vector<int32_t> row_assignment;  // n·k + j: index into gate[N, k]
  // Per assignment [N·k]: its row, or -1 when dropped.
  std::vector<int32_t> assignment_row;

  int64_t rows() const { return static_cast<int64_t>(row_token.size()); }
  int64_t assignments() const { return tokens * top_k; }
  double dropped_fraction() const { return assignments() ? double(dropped) / double(assignments()) : 0.0; }
};

// ⌈cf · N·k / E⌉ (at least 1), or 0 (dropless) when cf == 0.  A relative slack of
// 1e-9 keeps products like 0.3·10 from rounding up past an exact integer.
int64_t expert_capacity(double capacity_factor, int64_t tokens, int top_k, int num_experts);

// Builds the plan from expert[N, k] (the router's choices, best first).
DispatchPlan build_dispatch_plan(const int32_t* expert, int64_t tokens, int top_k, int num_experts,
                                 int64_t capacity, int ep_size = 1);

// The kept rows of `plan` whose token lies in [token_begin, token_end), as a plan
// of their own: one chunk of an overlapped dispatch.  Drops stay as the whole
// plan decided them; rows keep their expert grouping and, within an expert, their
// order; token ids stay global (indices into the whole micro-batch).  So the
// chunks of a partition of [0, N) together hold exactly the plan's rows, and
// every token's rows appear in the same (ascending expert) order as in the plan.
// The slice has tokens, top_k, num_experts, ep_size, capacity of the whole plan;
// counts, offsets, rank_counts, rank_offsets and the row arrays of its own rows;
// assignment_row [N·k] pointing into the slice (-1 outside the range or dropped);
// dropped = assignments of the range that the plan dropped; counts_before_drop empty.
DispatchPlan slice_dispatch_plan(const DispatchPlan& plan, int64_t token_begin, int64_t token_end);

// The same two, written into an existing plan whose vectors keep their capacity
// (the MoE layer reuses its plans every step without allocating).  `out` must
// not be `plan`.
void build_dispatch_plan_into(DispatchPlan& out, const int32_t* expert, int64_t tokens, int top_k, int num_experts,
                              int64_t capacity, int ep_size);
void slice_dispatch_plan_into(DispatchPlan& out, const DispatchPlan& plan, int64_t token_begin, int64_t token_end);

}  // namespace sy
