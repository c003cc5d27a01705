// comm/hierarchical_a2a.cpp — the EP group split into nodes; the staged (counts, local, cross) all-to-all.
#include "comm/hierarchical_a2a.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "comm/mpi_check.h"
#include "runtime/error.h"

namespace sy {
namespace {

// SWITCHYARD_TEST_NODE_SIZE=K → K, or 0 when unset.
int test_node_size(int world_rank) {
  const char* v = std::getenv("SWITCHYARD_TEST_NODE_SIZE");
  if (!v || !*v) return 0;
  int k = 0;
  char tail = 0;
  if (std::sscanf(v, "%d%c", &k, &tail) != 1 || k < 1)
    throw ConfigError(std::string("SWITCHYARD_TEST_NODE_SIZE = '") + v +
                      "' is malformed (expected a positive rank count; it is a test-only hook)");
  if (world_rank == 0) {
    std::fprintf(stderr,
                 "switchyard: TEST HOOK SWITCHYARD_TEST_NODE_SIZE=%d: world rank r counts as being on node r/%d "
                 "for parallel.a2a = hierarchical\n",
                 k, k);
    std::fflush(stderr);
  }
  return k;
}

std::vector<int64_t> offsets_of(const std::vector<int64_t>& bytes) {
  std::vector<int64_t> off(bytes.size() + 1, 0);
  std::partial_sum(bytes.begin(), bytes.end(), off.begin() + 1);
  return off;
}

void copy_bytes(char* to, const char* from, int64_t n) {
  if (n > 0) std::memcpy(to, from, static_cast<size_t>(n));
}

std::unique_ptr<char[]> scratch(int64_t n) { return std::make_unique_for_overwrite<char[]>(std::max<int64_t>(n, 1)); }

int64_t total(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

// One EP all-to-all going through its three stages.
struct StagedA2a : TransportRequest {
  TransportOp op;  // the caller's op: buffers and per-EP-member byte counts
  int64_t id = 0;  // 0, 1, 2, ... in order of start(): the order stages are posted in
  // *_ready: the previous stage is complete, this one waits for its turn.
  enum Stage { counts, local_ready, local, cross_ready, cross, finish, done } stage = counts;
  std::unique_ptr<TransportRequest> inner;
  std::vector<int64_t> counts_send, counts_recv;  // [j·N + m]: bytes node-mate j sends (m, this rank's j)
  std::vector<int64_t> local_recv_bytes;
  std::unique_ptr<char[]> local_send, local_recv, cross_send, cross_recv;
};

TransportOp a2a_op(const TransportOp& parent, MPI_Comm comm, const void* send, std::vector<int64_t> send_bytes,
                   void* recv, std::vector<int64_t> recv_bytes) {
  TransportOp op;
  op.kind = OpKind::all_to_all_v;
  op.comm = comm;
  op.seq = parent.seq;
  op.send = send;
  op.send_bytes = std::move(send_bytes);
  op.data = recv;
  op.recv_bytes = std::move(recv_bytes);
  return op;
}

}  // namespace

std::unique_ptr<A2aHierarchy> A2aHierarchy::create(const ParallelGrid& grid, std::string* note,
                                                    const std::vector<int>* node_of_world_rank) {
  int my_node = grid.node_index();
  if (node_of_world_rank) {
    SY_ASSERT(static_cast<int>(node_of_world_rank->size()) == grid.world_size(),
              "A2aHierarchy::create: one node per world rank expected");
    my_node = (*node_of_world_rank)[grid.world_rank()];
  } else if (const int k = test_node_size(grid.world_rank()); k > 0) {
    my_node = grid.world_rank() / k;
  }
  const int P = grid.ep_size();
  std::vector<int> node_of_member(P);
  SY_MPI(MPI_Allgather(&my_node, 1, MPI_INT, node_of_member.data(), 1, MPI_INT, grid.comm(Group::ep).get()));

  // Nodes in the order of their lowest EP member; members of each in EP order.
  std::vector<int> node_ids;
  std::vector<std::vector<int>> members;
  for (int q = 0; q < P; ++q) {
    size_t m = 0;
    while (m < node_ids.size() && node_ids[m] != node_of_member[q]) ++m;
    if (m == node_ids.size()) {
      node_ids.push_back(node_of_member[q]);
      members.emplace_back();
    }
    members[m].push_back(q);
  }
  const int N = static_cast<int>(members.size()), S = static_cast<int>(members[0].size());
  std::string why;
  if (N == 1) {
    why = "the EP group lies within one node";
  } else {
    std::string sizes;
    bool equal = true;
    for (const auto& m : members) {
      equal = equal && static_cast<int>(m.size()) == S;
      sizes += (sizes.empty() ? "" : ", ") + std::to_string(m.size());
    }
    if (!equal) why = "the nodes hold unequal numbers of EP members (" + sizes + ")";
    else if (S == 1) why = "each node holds one EP member, so there is nothing to gather within a node";
  }
  // Every EP group must agree, or the ranks would run different algorithms.
  int unusable = why.empty() ? 0 : 1, any_unusable = 0;
  SY_MPI(MPI_Allreduce(&unusable, &any_unusable, 1, MPI_INT, MPI_MAX, grid.comm(Group::world).get()));
  if (any_unusable) {
    if (note)
      *note = "parallel.a2a = hierarchical falls back to the flat all-to-all: " +
              (why.empty() ? std::string("another EP group cannot use it") : why);
    return nullptr;
  }

  auto h = std::make_unique<A2aHierarchy>();
  h->ep = grid.comm(Group::ep).get();
  h->nodes = N;
  h->per_node = S;
  for (int m = 0; m < N; ++m)
    for (int j = 0; j < S; ++j) {
      h->member_of.push_back(members[m][j]);
      if (members[m][j] == grid.ep_rank()) h->node = m, h->local_index = j;
    }
  h->local = grid.comm(Group::ep).split(/*color=*/h->node, /*key=*/h->local_index);
  h->local_counts = grid.comm(Group::ep).split(/*color=*/h->node, /*key=*/h->local_index);
  h->cross = grid.comm(Group::ep).split(/*color=*/h->local_index, /*key=*/h->node);
  if (note)
    *note = "parallel.a2a = hierarchical: each EP group spans " + std::to_string(N) + " nodes of " +
            std::to_string(S) + " members (exchange within the node, then across nodes)";
  return h;
}

HierarchicalA2aTransport::HierarchicalA2aTransport(std::unique_ptr<Transport> inner,
                                                   std::unique_ptr<A2aHierarchy> hierarchy)
    : inner_(std::move(inner)), h_(std::move(hierarchy)) {
  SY_ASSERT(inner_ && h_, "HierarchicalA2aTransport needs an inner transport and a hierarchy");
}

std::unique_ptr<TransportRequest> HierarchicalA2aTransport::start(const TransportOp& op) {
  if (op.kind != OpKind::all_to_all_v || op.comm != h_->ep) return inner_->start(op);
  const int N = h_->nodes, S = h_->per_node;
  auto r = std::make_unique<StagedA2a>();
  r->op = op;
  r->id = next_id_++;
  r->counts_send.resize(int64_t(S) * N);
  r->counts_recv.resize(int64_t(S) * N);
  for (int j = 0; j < S; ++j)
    for (int m = 0; m < N; ++m) r->counts_send[j * N + m] = op.send_bytes[h_->member_of[m * S + j]];
  const std::vector<int64_t> per_mate(S, int64_t(N) * int64_t(sizeof(int64_t)));
  r->inner = inner_->start(
      a2a_op(op, h_->local_counts.get(), r->counts_send.data(), per_mate, r->counts_recv.data(), per_mate));
  return r;
}

bool HierarchicalA2aTransport::test(TransportRequest& request) {
  auto* r = dynamic_cast<StagedA2a*>(&request);
  if (!r) return inner_->test(request);
  const int N = h_->nodes, S = h_->per_node;
  const TransportOp& op = r->op;
  while (r->stage != StagedA2a::done) {
    if (r->stage == StagedA2a::counts || r->stage == StagedA2a::local || r->stage == StagedA2a::cross) {
      if (!inner_->test(*r->inner)) return false;
      r->stage = static_cast<StagedA2a::Stage>(r->stage + 1);
      continue;
    }
    if (r->stage == StagedA2a::local_ready) {
      if (r->id != next_local_) return false;  // an earlier all-to-all has not posted this stage yet
      ++next_local_;
      // To node-mate j: what this rank sends (m, j), for m = 0..N-1.
      const std::vector<int64_t> send_off = offsets_of(op.send_bytes);
      std::vector<int64_t> send_bytes(S, 0);
      r->local_recv_bytes.assign(S, 0);
      for (int j = 0; j < S; ++j)
        for (int m = 0; m < N; ++m) {
          send_bytes[j] += op.send_bytes[h_->member_of[m * S + j]];
          r->local_recv_bytes[j] += r->counts_recv[j * N + m];
        }
      r->local_send = scratch(total(send_bytes));
      r->local_recv = scratch(total(r->local_recv_bytes));
      char* out = r->local_send.get();
      const char* in = static_cast<const char*>(op.send);
      for (int j = 0; j < S; ++j)
        for (int m = 0; m < N; ++m) {
          const int q = h_->member_of[m * S + j];
          copy_bytes(out, in + send_off[q], op.send_bytes[q]);
          out += op.send_bytes[q];
        }
      r->stage = StagedA2a::local;
      r->inner = inner_->start(a2a_op(op, h_->local.get(), r->local_send.get(), std::move(send_bytes),
                                      r->local_recv.get(), r->local_recv_bytes));
    } else if (r->stage == StagedA2a::cross_ready) {
      if (r->id != next_cross_) return false;
      ++next_cross_;
      // local_recv is node-mate-major, then destination node; the cross stage
      // sends node m the blocks of every node-mate, node-mate-major.
      std::vector<int64_t> block_off(int64_t(S) * N + 1, 0);
      std::partial_sum(r->counts_recv.begin(), r->counts_recv.end(), block_off.begin() + 1);
      std::vector<int64_t> send_bytes(N, 0), recv_bytes(N, 0);
      for (int m = 0; m < N; ++m)
        for (int j = 0; j < S; ++j) {
          send_bytes[m] += r->counts_recv[j * N + m];
          recv_bytes[m] += op.recv_bytes[h_->member_of[m * S + j]];
        }
      r->cross_send = scratch(total(send_bytes));
      char* out = r->cross_send.get();
      for (int m = 0; m < N; ++m)
        for (int j = 0; j < S; ++j) {
          const int64_t n = r->counts_recv[j * N + m];
          copy_bytes(out, r->local_recv.get() + block_off[j * N + m], n);
          out += n;
        }
      r->local_send.reset();
      // Lands node-major, then by local index: in place when that is EP member order.
      bool in_order = true;
      for (int k = 0; k < N * S; ++k) in_order = in_order && h_->member_of[k] == k;
      void* recv = op.data;
      if (!in_order) {
        r->cross_recv = scratch(total(recv_bytes));
        recv = r->cross_recv.get();
      }
      r->stage = StagedA2a::cross;
      r->inner = inner_->start(
          a2a_op(op, h_->cross.get(), r->cross_send.get(), std::move(send_bytes), recv, std::move(recv_bytes)));
    } else {  // finish: restore EP member order if the nodes interleave
      if (r->cross_recv) {
        const std::vector<int64_t> recv_off = offsets_of(op.recv_bytes);
        const char* in = r->cross_recv.get();
        for (int k = 0; k < N * S; ++k) {
          const int q = h_->member_of[k];
          copy_bytes(static_cast<char*>(op.data) + recv_off[q], in, op.recv_bytes[q]);
          in += op.recv_bytes[q];
        }
      }
      r->local_recv.reset();
      r->cross_send.reset();
      r->cross_recv.reset();
      r->stage = StagedA2a::done;
    }
  }
  return true;
}

}  // namespace sy
