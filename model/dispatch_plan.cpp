// model/dispatch_plan.cpp — capacity-limited placement of routed assignments into an expert-sorted buffer.
#include "model/dispatch_plan.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace sy {

int64_t expert_capacity(double capacity_factor, int64_t tokens, int top_k, int num_experts) {
  if (capacity_factor <= 0) return 0;
  const double exact = capacity_factor * double(tokens) * double(top_k) / double(num_experts);
  const int64_t cap = static_cast<int64_t>(std::ceil(exact - 1e-9 * std::max(1.0, exact)));
  return std::max<int64_t>(cap, 1);
}

DispatchPlan build_dispatch_plan(const int32_t* expert, int64_t tokens, int top_k, int num_experts,
                                 int64_t capacity, int ep_size) {
  DispatchPlan plan;
  build_dispatch_plan_into(plan, expert, tokens, top_k, num_experts, capacity, ep_size);
  return plan;
}

void build_dispatch_plan_into(DispatchPlan& plan, const int32_t* expert, int64_t tokens, int top_k, int num_experts,
                              int64_t capacity, int ep_size) {
  SY_ASSERT(num_experts > 0 && top_k > 0 && top_k <= num_experts, "bad routing shape");
  SY_ASSERT(ep_size > 0 && num_experts % ep_size == 0, "ep_size must divide the expert count");
  plan.dropped = 0;
  plan.tokens = tokens;
  plan.top_k = top_k;
  plan.num_experts = num_experts;
  plan.ep_size = ep_size;
  plan.capacity = capacity;
  const int64_t A = tokens * top_k;
  plan.counts_before_drop.assign(num_experts, 0);
  plan.counts.assign(num_experts, 0);
  plan.assignment_row.assign(A, -1);

  // Pass 1, in placement order: decide what is kept and each kept assignment's
  // position inside its expert (stashed in assignment_row until offsets are known).
  for (int j = 0; j < top_k; ++j) {
    for (int64_t n = 0; n < tokens; ++n) {
      const int64_t a = n * top_k + j;
      const int e = expert[a];
      SY_ASSERT(e >= 0 && e < num_experts, "expert index out of range");
      ++plan.counts_before_drop[e];
      if (capacity > 0 && plan.counts[e] >= capacity) {
        ++plan.dropped;
        continue;
      }
      plan.assignment_row[a] = static_cast<int32_t>(plan.counts[e]++);
    }
  }

  plan.offsets.assign(num_experts + 1, 0);
  for (int e = 0; e < num_experts; ++e) plan.offsets[e + 1] = plan.offsets[e] + plan.counts[e];
  const int64_t R = plan.offsets[num_experts];
  const int L = num_experts / ep_size;
  plan.rank_counts.assign(ep_size, 0);
  plan.rank_offsets.assign(ep_size + 1, 0);
  for (int p = 0; p < ep_size; ++p) {
    plan.rank_offsets[p + 1] = plan.offsets[(p + 1) * L];
    plan.rank_counts[p] = plan.rank_offsets[p + 1] - plan.rank_offsets[p];
  }

  // Pass 2: final rows.
  plan.row_token.assign(R, 0);
  plan.row_slot.assign(R, 0);
  plan.row_expert.assign(R, 0);
  plan.row_assignment.assign(R, 0);
  for (int64_t a = 0; a < A; ++a) {
    if (plan.assignment_row[a] < 0) continue;
    const int e = expert[a];
    const int64_t row = plan.offsets[e] + plan.assignment_row[a];
    plan.assignment_row[a] = static_cast<int32_t>(row);
    plan.row_token[row] = static_cast<int32_t>(a / top_k);
    plan.row_slot[row] = static_cast<int32_t>(a % top_k);
    plan.row_expert[row] = e;
    plan.row_assignment[row] = static_cast<int32_t>(a);
  }
}

DispatchPlan slice_dispatch_plan(const DispatchPlan& plan, int64_t token_begin, int64_t token_end) {
  DispatchPlan s;
  slice_dispatch_plan_into(s, plan, token_begin, token_end);
  return s;
}

void slice_dispatch_plan_into(DispatchPlan& s, const DispatchPlan& plan, int64_t token_begin, int64_t token_end) {
  SY_ASSERT(0 <= token_begin && token_begin <= token_end && token_end <= plan.tokens, "token range out of bounds");
  SY_ASSERT(&s != &plan, "slice_dispatch_plan_into: output aliases the plan");
  s.counts_before_drop.clear();
  s.dropped = 0;
  s.row_token.clear();
  s.row_slot.clear();
  s.row_expert.clear();
  s.row_assignment.clear();
  s.tokens = plan.tokens;
  s.top_k = plan.top_k;
  s.num_experts = plan.num_experts;
  s.ep_size = plan.ep_size;
  s.capacity = plan.capacity;
  const int E = plan.num_experts, L = E / plan.ep_size;
  s.counts.assign(E, 0);
  s.assignment_row.assign(plan.assignment_row.size(), -1);
  for (int64_t a = token_begin * plan.top_k; a < token_end * plan.top_k; ++a) s.dropped += plan.assignment_row[a] < 0;
  // Plan rows are expert-sorted, so filtering them in order keeps the grouping.
  for (int64_t r = 0; r < plan.rows(); ++r) {
    const int32_t n = plan.row_token[r];
    if (n < token_begin || n >= token_end) continue;
    s.assignment_row[plan.row_assignment[r]] = static_cast<int32_t>(s.row_token.size());
    s.row_token.push_back(n);
    s.row_slot.push_back(plan.row_slot[r]);
    s.row_expert.push_back(plan.row_expert[r]);
    s.row_assignment.push_back(plan.row_assignment[r]);
    ++s.counts[plan.row_expert[r]];
  }
  s.offsets.assign(E + 1, 0);
  for (int e = 0; e < E; ++e) s.offsets[e + 1] = s.offsets[e] + s.counts[e];
  s.rank_counts.assign(plan.ep_size, 0);
  s.rank_offsets.assign(plan.ep_size + 1, 0);
  for (int p = 0; p < plan.ep_size; ++p) {
    s.rank_offsets[p + 1] = s.offsets[(p + 1) * L];
    s.rank_counts[p] = s.rank_offsets[p + 1] - s.rank_offsets[p];
  }
}

}  // namespace sy
