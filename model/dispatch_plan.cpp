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
  SY_ASSERT(num_experts > 0 && top_k > 0 && top_k <= num_experts, "bad routing shape");
  SY_ASSERT(ep_size > 0 && num_experts % ep_size == 0, "ep_size must divide the expert count");
  DispatchPlan plan;
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
  return plan;
}

}  // namespace sy
