// tests/unit/collective_dispatcher_test.cpp — CollectiveDispatcher over in-process fake ranks: counts, row all-to-alls
// with self-describing payloads, regrouping, round trips, chunks in flight together; the fake collectives themselves.
#include "comm/collective_dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "runtime/rng.h"
#include "tests/unit/fake_collectives.h"

namespace sy {
namespace {

struct A2aCase {
  const char* name;
  int world, ep, local_experts, top_k;
  double capacity_factor;
  bool starve_first_peer;  // no token routes to EP rank 0's experts: it receives nothing
};
void PrintTo(const A2aCase& c, std::ostream* os) { *os << c.name; }

// Tokens of world rank r: some ranks have none at all.
int64_t tokens_of(int r) { return r % 3 == 1 ? 0 : 5 + 3 * r; }

// The routing of every world rank is a pure function of the case and the rank, so
// each rank can compute what all its peers send.  Choices are skewed towards low
// expert ids (so some experts get nothing) and distinct per token.
DispatchPlan plan_of(const A2aCase& c, int r) {
  const int E = c.ep * c.local_experts;
  const int64_t N = tokens_of(r);
  std::vector<int> allowed;
  for (int e = c.starve_first_peer ? c.local_experts : 0; e < E; ++e) allowed.push_back(e);
  Rng rng(1234 + r, E);
  std::vector<int32_t> expert(N * c.top_k);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int> pool = allowed;
    for (int j = 0; j < c.top_k; ++j) {
      const uint64_t a = rng.below(pool.size()), b = rng.below(pool.size());
      const size_t pick = std::min(a, b);  // skew
      expert[n * c.top_k + j] = pool[pick];
      pool.erase(pool.begin() + pick);
    }
  }
  const int64_t cap = expert_capacity(c.capacity_factor, N, c.top_k, E);
  return build_dispatch_plan(expert.data(), N, c.top_k, E, cap, c.ep);
}

constexpr int64_t kD = 5;
// Row i of rank r's send buffer: (r, token, expert, slot, r·1000 + i).  Exact in float.
template <class T>
Tensor<T> payload(const DispatchPlan& plan, int r) {
  Tensor<T> rows({plan.rows(), kD});
  for (int64_t i = 0; i < plan.rows(); ++i) {
    T* x = rows.data() + i * kD;
    x[0] = T(r), x[1] = T(plan.row_token[i]), x[2] = T(plan.row_expert[i]), x[3] = T(plan.row_slot[i]);
    x[4] = T(r * 1000 + i);
  }
  return rows;
}

// What an expert does to a row in these tests: an exact, row-identifying transform.
template <class T>
void expert_transform(const T* in, T* out, int owner) {
  for (int64_t c = 0; c < kD; ++c) out[c] = T(2) * in[c] + T(owner);
}

template <class T>
void check_exchange(const A2aCase& c, Collectives& comm, int r) {
  CollectiveDispatcher<T> disp(comm);
  const int P = c.ep, L = c.local_experts, p = r % c.ep, base = r / c.ep * c.ep;
  ASSERT_EQ(disp.ep_size(), P);
  ASSERT_EQ(disp.ep_rank(), p);
  const DispatchPlan plan = plan_of(c, r);
  const ExpertLayout layout = disp.exchange_counts(plan);

  // Counts: from every source q of my EP group, for each of my experts.
  int64_t total = 0;
  for (int q = 0; q < P; ++q) {
    const DispatchPlan src = plan_of(c, base + q);
    for (int j = 0; j < L; ++j) {
      EXPECT_EQ(layout.recv_counts[q * L + j], src.counts[p * L + j]) << "source " << q << " expert " << j;
      total += src.counts[p * L + j];
    }
  }
  EXPECT_EQ(layout.recv_rows(), total);
  EXPECT_EQ(layout.send_counts, plan.rank_counts);
  if (c.starve_first_peer && p == 0) {
    EXPECT_EQ(layout.recv_rows(), 0);
  }

  // Dispatch: expert-major, source-ascending inside an expert, each source's plan order.
  const Tensor<T> send = payload<T>(plan, r);
  Tensor<T> recv_buf;
  const T* recv = disp.dispatch(layout, kD, send.data(), recv_buf);
  int64_t row = 0;
  for (int j = 0; j < L; ++j) {
    EXPECT_EQ(row, layout.expert_offsets[j]);
    const int g = p * L + j;
    for (int q = 0; q < P; ++q) {
      const DispatchPlan src = plan_of(c, base + q);
      for (int64_t i = src.offsets[g]; i < src.offsets[g + 1]; ++i, ++row) {
        const T* x = recv + row * kD;
        ASSERT_LT(row, layout.recv_rows());
        EXPECT_EQ(x[0], T(base + q));
        EXPECT_EQ(x[1], T(src.row_token[i]));
        EXPECT_EQ(x[2], T(g));
        EXPECT_EQ(x[3], T(src.row_slot[i]));
        EXPECT_EQ(x[4], T((base + q) * 1000 + i));
      }
    }
  }
  EXPECT_EQ(row, layout.recv_rows());

  // Experts transform their rows; combine returns every row to its sender, in plan order.
  Tensor<T> out({layout.recv_rows(), kD});
  for (int64_t i = 0; i < layout.recv_rows(); ++i) expert_transform(recv + i * kD, out.data() + i * kD, p);
  Tensor<T> back_buf;
  const T* back = disp.combine(layout, kD, out.data(), back_buf);
  for (int64_t i = 0; i < plan.rows(); ++i) {
    T want[kD];
    expert_transform(send.data() + i * kD, want, plan.row_expert[i] / L);
    for (int64_t col = 0; col < kD; ++col) ASSERT_EQ(back[i * kD + col], want[col]) << "row " << i;
  }

  // Round trip of the untransformed rows is the identity; the backward moves are the
  // same permutations (combine_backward = dispatch, dispatch_backward = combine).
  Tensor<T> rt_buf, cb_buf, db_buf;
  const T* rt = disp.combine(layout, kD, recv, rt_buf);
  for (int64_t i = 0; i < send.numel(); ++i) ASSERT_EQ(rt[i], send[i]);
  const T* cb = disp.combine_backward(layout, kD, send.data(), cb_buf);
  for (int64_t i = 0; i < layout.recv_rows() * kD; ++i) ASSERT_EQ(cb[i], recv[i]);
  const T* db = disp.dispatch_backward(layout, kD, out.data(), db_buf);
  for (int64_t i = 0; i < plan.rows() * kD; ++i) ASSERT_EQ(db[i], back[i]);

  // World all-reduce.
  double x[2] = {double(r), 1.0};
  disp.allreduce_sum(x, 2);
  EXPECT_EQ(x[0], c.world * (c.world - 1) / 2.0);
  EXPECT_EQ(x[1], double(c.world));
}

class CollectiveDispatcherExchange : public ::testing::TestWithParam<A2aCase> {};

TEST_P(CollectiveDispatcherExchange, PayloadsArriveGroupedByExpertAndReturnInPlanOrder) {
  const A2aCase c = GetParam();
  test::run_ranks(c.world, c.ep, [&](Collectives& comm, int r) { check_exchange<double>(c, comm, r); });
}

TEST_P(CollectiveDispatcherExchange, FloatRowsToo) {
  const A2aCase c = GetParam();
  test::run_ranks(c.world, c.ep, [&](Collectives& comm, int r) { check_exchange<float>(c, comm, r); });
}

INSTANTIATE_TEST_SUITE_P(Grids, CollectiveDispatcherExchange,
                         ::testing::Values(A2aCase{"w2_ep2_L2_top2", 2, 2, 2, 2, 0.0, false},
                                           A2aCase{"w2_ep2_L1_top1", 2, 2, 1, 1, 0.0, false},
                                           A2aCase{"w2_ep1_L4", 2, 1, 4, 2, 0.0, false},
                                           A2aCase{"w3_ep3_L2_drops", 3, 3, 2, 2, 0.6, false},
                                           A2aCase{"w3_ep3_L3_starved", 3, 3, 3, 2, 0.0, true},
                                           A2aCase{"w4_ep2_L3_top3", 4, 2, 3, 3, 0.0, false},
                                           A2aCase{"w4_ep4_L2_starved_drops", 4, 4, 2, 2, 0.8, true},
                                           A2aCase{"w4_ep4_L1", 4, 4, 1, 1, 0.0, false}),
                         [](const auto& info) { return std::string(info.param.name); });

// Chunks of one plan in flight together, finished out of order, equal the blocking moves of each chunk;
// together the chunks deliver exactly the whole plan's rows.
TEST(CollectiveDispatcher, ChunksInFlightTogetherFinishInAnyOrder) {
  const A2aCase c{"", 4, 2, 2, 2, 0.0, false};
  test::run_ranks(4, 2, [&](Collectives& comm, int r) {
    CollectiveDispatcher<double> disp(comm);
    const DispatchPlan plan = plan_of(c, r);
    const int64_t N = plan.tokens;
    std::vector<DispatchPlan> chunks;
    for (int k = 0; k < 3; ++k) chunks.push_back(slice_dispatch_plan(plan, k * N / 3, (k + 1) * N / 3));
    const std::vector<ExpertLayout> layouts = disp.exchange_counts(chunks, "chunks");
    ASSERT_EQ(layouts.size(), 3u);
    std::vector<Tensor<double>> sends, bufs(3), blocking(3);
    std::vector<RowTransfer<double>> flights;
    for (int k = 0; k < 3; ++k) sends.push_back(payload<double>(chunks[k], r));
    for (int k = 0; k < 3; ++k)
      flights.push_back(disp.start(RowMove::dispatch, layouts[k], kD, sends[k].data(), bufs[k], "chunk"));
    std::vector<const double*> got(3);
    for (int k : {2, 0, 1}) got[k] = flights[k].finish();
    int64_t total = 0;
    for (int k = 0; k < 3; ++k) {
      const ExpertLayout one = disp.exchange_counts(chunks[k]);
      EXPECT_EQ(one.recv_counts, layouts[k].recv_counts);
      const double* want = disp.dispatch(one, kD, sends[k].data(), blocking[k]);
      for (int64_t i = 0; i < one.recv_rows() * kD; ++i) ASSERT_EQ(got[k][i], want[i]);
      total += one.recv_rows();
    }
    EXPECT_EQ(total, disp.exchange_counts(plan).recv_rows());
  });
}

// A transfer dropped unfinished waits for the collective instead of leaving it writing into freed memory.
TEST(CollectiveDispatcher, UnfinishedTransferWaitsOnDestruction) {
  const A2aCase c{"", 2, 2, 2, 2, 0.0, false};
  test::run_ranks(2, 2, [&](Collectives& comm, int r) {
    CollectiveDispatcher<double> disp(comm);
    const DispatchPlan plan = plan_of(c, r);
    const ExpertLayout layout = disp.exchange_counts(plan);
    const Tensor<double> send = payload<double>(plan, r);
    Tensor<double> buf;
    {
      RowTransfer<double> t = disp.start(RowMove::dispatch, layout, kD, send.data(), buf, "dropped");
      EXPECT_TRUE(t.pending());
    }
    // The next collective still pairs up correctly.
    Tensor<double> buf2;
    const double* again = disp.dispatch(layout, kD, send.data(), buf2);
    for (int64_t i = 0; i < layout.recv_rows(); ++i) EXPECT_EQ(int(again[i * kD + 2]) / 2, r);
  });
}

// ---- The fake collectives themselves: groups, reductions, broadcast, failure reports. ----

TEST(FakeCollectives, GroupsFollowTheParallelLayout) {
  test::run_ranks(
      6, 3,
      [](Collectives& comm, int r) {
        EXPECT_EQ(comm.size(Group::world), 6);
        EXPECT_EQ(comm.rank(Group::world), r);
        EXPECT_EQ(comm.size(Group::ep), 3);
        EXPECT_EQ(comm.rank(Group::ep), r % 3);
        EXPECT_EQ(comm.size(Group::expert_dp), 2);
        EXPECT_EQ(comm.rank(Group::expert_dp), r / 3);
        EXPECT_EQ(comm.size(Group::node), 2);
        EXPECT_EQ(comm.rank(Group::node), r % 2);
        // Sums over each group: who is in it.
        int64_t ep_sum = r, dp_sum = r, node_sum = r, world_max = 10 * r;
        double world_sum = r;
        float f = 0.5f;
        auto h1 = comm.all_reduce_sum(Group::ep, &ep_sum, 1, "ep");
        auto h2 = comm.all_reduce_sum(Group::expert_dp, &dp_sum, 1, "dp");
        auto h3 = comm.all_reduce_sum(Group::node, &node_sum, 1, "node");
        auto h4 = comm.all_reduce_max(Group::world, &world_max, 1, "max");
        auto h5 = comm.all_reduce_sum(Group::world, &world_sum, 1, "sum");
        auto h6 = comm.all_reduce_sum(Group::world, &f, 1, "float");
        for (CommHandle* h : {&h1, &h2, &h3, &h4, &h5, &h6}) h->wait();
        const int b = r / 3 * 3;
        EXPECT_EQ(ep_sum, 3 * b + 3);
        EXPECT_EQ(dp_sum, 2 * (r % 3) + 3);
        EXPECT_EQ(node_sum, 2 * (r / 2 * 2) + 1);
        EXPECT_EQ(world_max, 50);
        EXPECT_EQ(world_sum, 15.0);
        EXPECT_EQ(f, 3.0f);
        int64_t v[2] = {r, -r};
        comm.broadcast(Group::expert_dp, v, sizeof v, 1, "bcast").wait();
        EXPECT_EQ(v[0], r % 3 + 3);
        EXPECT_EQ(v[1], -(r % 3 + 3));
        comm.barrier(Group::world, "end").wait();
      },
      /*ranks_per_node=*/2);
}

TEST(FakeCollectives, AMissingRankIsReportedNotAHang) {
  try {
    test::run_ranks(
        3, 3,
        [](Collectives& comm, int r) {
          if (r == 2) return;  // the classic hang: rank 2 skips the collective
          int64_t x = 1;
          comm.all_reduce_sum(Group::ep, &x, 1, "moe.counts layer 1").wait();
        },
        0, /*stall_seconds=*/0.1);
    FAIL() << "expected a CommError";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("stall"), std::string::npos) << what;
    EXPECT_NE(what.find("moe.counts layer 1"), std::string::npos) << what;
    EXPECT_NE(what.find("{2}"), std::string::npos) << what;
  }
}

TEST(FakeCollectives, MismatchedBytesAndCallsFail) {
  EXPECT_THROW(test::run_ranks(2, 2,
                               [](Collectives& comm, int r) {
                                 double s[4] = {}, d[4] = {};
                                 // Rank 0 sends 8 bytes to rank 1, which expects 16.
                                 std::vector<int64_t> sb = {8, 8}, rb = {r == 1 ? 16 : 8, 8};
                                 comm.all_to_all_v(Group::ep, s, sb, d, rb, "bad").wait();
                               }),
               CommError);
  EXPECT_THROW(test::run_ranks(2, 1,
                               [](Collectives& comm, int r) {
                                 int64_t x = 0;
                                 if (r == 0) comm.all_reduce_sum(Group::world, &x, 1, "sum").wait();
                                 else comm.all_reduce_max(Group::world, &x, 1, "max").wait();
                               }),
               CommError);
}

}  // namespace
}  // namespace sy
