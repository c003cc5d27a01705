// tests/unit/fake_collectives.h — FakeCollectives: W ranks as W threads of one process with the exact Collectives semantics; run_ranks.
//
// Lets a unit test run multi-rank logic (MoE dispatch, gradient reductions)
// deterministically without MPI.  Groups follow DESIGN.md §4 for (W, ep); nodes
// are blocks of `ranks_per_node` consecutive ranks.
//
// Rendezvous: the s-th call a rank makes on a group instance meets the s-th call
// of every other member.  Submission never blocks (as with the CommEngine): each
// member leaves its buffers, and the last member to arrive performs the whole
// collective — it copies every member's bytes, so every other rank's buffers are
// read or written by another thread while that rank keeps computing, which is
// exactly the ownership rule of comm/collectives.h — and completes the handles.
// Reductions add the members' values in group-rank order, so results are
// deterministic.  Mismatched calls (another kind, size or root as the same
// sequence number) fail every member's handle with a CommError; a collective
// some member never joins fails after `stall_seconds` with a CommError naming the
// missing ranks; when a rank's body throws, every pending and later collective
// fails at once, so a broken test reports instead of hanging.
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "comm/collectives.h"
#include "runtime/error.h"

namespace sy::test {

// Group membership of DESIGN.md §4.
struct GridShape {
  int world = 1, ep = 1, ranks_per_node = 1;

  std::vector<int> members(Group g, int r) const {
    std::vector<int> m;
    switch (g) {
      case Group::world:
        for (int q = 0; q < world; ++q) m.push_back(q);
        break;
      case Group::ep:
        for (int j = 0; j < ep; ++j) m.push_back(r / ep * ep + j);
        break;
      case Group::expert_dp:
        for (int j = 0; j < world / ep; ++j) m.push_back(r % ep + j * ep);
        break;
      case Group::node:
        for (int q = r / ranks_per_node * ranks_per_node; q < std::min(world, (r / ranks_per_node + 1) * ranks_per_node);
             ++q)
          m.push_back(q);
        break;
    }
    return m;
  }
  // Tells apart the instances of one group kind (e.g. the EP blocks).
  int instance(Group g, int r) const {
    switch (g) {
      case Group::world: return 0;
      case Group::ep: return r / ep;
      case Group::expert_dp: return r % ep;
      case Group::node: return r / ranks_per_node;
    }
    return 0;
  }
  int rank_in(Group g, int r) const {
    const std::vector<int> m = members(g, r);
    return int(std::find(m.begin(), m.end(), r) - m.begin());
  }
};

// The shared medium: pending collectives keyed by (group kind, instance, sequence number).
class FakeFabric {
 public:
  enum class Kind { all_to_all_v, sum_f32, sum_f64, sum_i64, max_i64, broadcast, barrier };
  struct Part {
    Kind kind = Kind::barrier;
    std::string label;
    const void* send = nullptr;
    void* recv = nullptr;
    std::vector<int64_t> send_bytes, recv_bytes;
    void* data = nullptr;  // reductions, broadcast
    int64_t n = 0;         // elements (reductions) or bytes (broadcast)
    int root = 0;
  };

  FakeFabric(GridShape shape, double stall_seconds) : shape_(shape), stall_seconds_(stall_seconds) {
    next_seq_.assign(shape.world, std::vector<int64_t>(4, 0));
  }

  const GridShape& shape() const { return shape_; }

  std::shared_future<void> submit(int rank, Group g, Part part) {
    std::shared_ptr<Op> ready;
    std::shared_future<void> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t seq = next_seq_[rank][int(g)]++;
      const std::vector<int> members = shape_.members(g, rank);
      const Key key{int(g), shape_.instance(g, rank), seq};
      std::shared_ptr<Op>& op = pending_[key];
      if (!op) {
        op = std::make_shared<Op>();
        op->group = g;
        op->seq = seq;
        op->members = members;
        op->parts.resize(members.size());
        op->joined.assign(members.size(), false);
        op->done = op->promise.get_future().share();
        op->since = Clock::now();
      }
      done = op->done;
      const int me = shape_.rank_in(g, rank);
      if (!aborted_.empty()) {
        fail(*op, "rank " + std::to_string(rank) + " calls " + describe(g, seq, part) + " after " + aborted_);
        pending_.erase(key);
        return done;
      }
      for (size_t i = 0; i < op->parts.size(); ++i)
        if (op->joined[i] && !compatible(op->parts[i], part)) {
          fail(*op, "mismatched collective: rank " + std::to_string(rank) + " calls " + describe(g, seq, part) +
                        ", rank " + std::to_string(op->members[i]) + " called " + describe(g, seq, op->parts[i]));
          pending_.erase(key);
          return done;
        }
      op->parts[me] = std::move(part);
      op->joined[me] = true;
      if (++op->arrived == int(members.size())) {
        ready = op;
        pending_.erase(key);
      }
    }
    if (ready) execute(*ready);
    return done;
  }

  // Fails every collective that has waited longer than the stall timeout.
  void fail_stalled() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      Op& op = *it->second;
      if (std::chrono::duration<double>(now - op.since).count() < stall_seconds_) {
        ++it;
        continue;
      }
      fail(op, "stall: " + describe_pending(op));
      it = pending_.erase(it);
    }
  }

  // After a rank's body threw: fail everything pending and everything later.
  void abort(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_.empty()) aborted_ = why;
    for (auto& [key, op] : pending_) fail(*op, describe_pending(*op) + " abandoned: " + why);
    pending_.clear();
  }

 private:
  using Clock = std::chrono::steady_clock;
  using Key = std::tuple<int, int, int64_t>;
  struct Op {
    Group group = Group::world;
    int64_t seq = 0;
    std::vector<int> members;
    std::vector<Part> parts;
    std::vector<bool> joined;
    int arrived = 0;
    std::promise<void> promise;
    std::shared_future<void> done;
    Clock::time_point since;
    bool failed = false;
  };

  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::all_to_all_v: return "all_to_all_v";
      case Kind::sum_f32: return "all_reduce_sum<float>";
      case Kind::sum_f64: return "all_reduce_sum<double>";
      case Kind::sum_i64: return "all_reduce_sum<int64>";
      case Kind::max_i64: return "all_reduce_max<int64>";
      case Kind::broadcast: return "broadcast";
      case Kind::barrier: return "barrier";
    }
    return "?";
  }
  static std::string describe(Group g, int64_t seq, const Part& p) {
    return std::string(kind_name(p.kind)) + " '" + p.label + "' (#" + std::to_string(seq) + " on group " +
           group_name(g) + ")";
  }
  static std::string describe_pending(const Op& op) {
    std::string missing;
    for (size_t i = 0; i < op.members.size(); ++i)
      if (!op.joined[i]) missing += (missing.empty() ? "" : ",") + std::to_string(op.members[i]);
    const Part* any = nullptr;
    for (size_t i = 0; i < op.parts.size(); ++i)
      if (op.joined[i]) any = &op.parts[i];
    return (any ? describe(op.group, op.seq, *any) : std::string("collective")) + " waiting for ranks {" + missing +
           "}";
  }
  static bool compatible(const Part& a, const Part& b) {
    if (a.kind != b.kind) return false;
    if (a.kind == Kind::broadcast) return a.n == b.n && a.root == b.root;
    if (a.kind != Kind::all_to_all_v && a.kind != Kind::barrier) return a.n == b.n;
    return true;
  }
  static void fail(Op& op, const std::string& why) {
    if (op.failed) return;
    op.failed = true;
    op.promise.set_exception(std::make_exception_ptr(CommError(why)));
  }

  template <class V>
  static void reduce(Op& op, bool max) {
    const int64_t n = op.parts[0].n;
    std::vector<V> acc(static_cast<const V*>(op.parts[0].data), static_cast<const V*>(op.parts[0].data) + n);
    for (size_t i = 1; i < op.parts.size(); ++i) {
      const V* x = static_cast<const V*>(op.parts[i].data);
      for (int64_t k = 0; k < n; ++k) acc[k] = max ? std::max(acc[k], x[k]) : acc[k] + x[k];
    }
    for (const Part& p : op.parts)
      if (n) std::memcpy(p.data, acc.data(), sizeof(V) * n);
  }

  void execute(Op& op) {
    const size_t m = op.parts.size();
    switch (op.parts[0].kind) {
      case Kind::all_to_all_v: {
        for (const Part& p : op.parts)
          if (p.send_bytes.size() != m || p.recv_bytes.size() != m) {
            fail(op, describe(op.group, op.seq, p) + ": byte counts need one entry per group member");
            return;
          }
        for (size_t src = 0; src < m; ++src)
          for (size_t dst = 0; dst < m; ++dst)
            if (op.parts[src].send_bytes[dst] != op.parts[dst].recv_bytes[src]) {
              fail(op, describe(op.group, op.seq, op.parts[src]) + ": rank " + std::to_string(op.members[src]) +
                           " sends " + std::to_string(op.parts[src].send_bytes[dst]) + " bytes to rank " +
                           std::to_string(op.members[dst]) + ", which expects " +
                           std::to_string(op.parts[dst].recv_bytes[src]));
              return;
            }
        for (size_t src = 0; src < m; ++src) {
          const Part& s = op.parts[src];
          int64_t send_off = 0;
          for (size_t dst = 0; dst < m; ++dst) {
            const Part& r = op.parts[dst];
            int64_t recv_off = 0;
            for (size_t q = 0; q < src; ++q) recv_off += r.recv_bytes[q];
            const int64_t bytes = s.send_bytes[dst];
            if (bytes > 0)
              std::memcpy(static_cast<char*>(r.recv) + recv_off, static_cast<const char*>(s.send) + send_off, bytes);
            send_off += bytes;
          }
        }
        break;
      }
      case Kind::sum_f32: reduce<float>(op, false); break;
      case Kind::sum_f64: reduce<double>(op, false); break;
      case Kind::sum_i64: reduce<int64_t>(op, false); break;
      case Kind::max_i64: reduce<int64_t>(op, true); break;
      case Kind::broadcast: {
        const Part& root = op.parts[op.parts[0].root];
        for (const Part& p : op.parts)
          if (&p != &root && p.n) std::memcpy(p.data, root.data, p.n);
        break;
      }
      case Kind::barrier: break;
    }
    op.promise.set_value();
  }

  GridShape shape_;
  double stall_seconds_;
  std::mutex mu_;
  std::map<Key, std::shared_ptr<Op>> pending_;
  std::vector<std::vector<int64_t>> next_seq_;  // [rank][group kind]
  std::string aborted_;
};

// One rank's view of the fabric.  Used only by that rank's thread.
class FakeCollectives final : public Collectives {
 public:
  FakeCollectives(FakeFabric& fabric, int world_rank) : fabric_(fabric), rank_(world_rank) {}

  int rank(Group g) const override { return fabric_.shape().rank_in(g, rank_); }
  int size(Group g) const override { return int(fabric_.shape().members(g, rank_).size()); }

  CommHandle all_to_all_v(Group g, const void* send, std::vector<int64_t> send_bytes, void* recv,
                          std::vector<int64_t> recv_bytes, std::string label) override {
    for (int64_t b : send_bytes) a2a_bytes_ += b;
    FakeFabric::Part p;
    p.kind = FakeFabric::Kind::all_to_all_v;
    p.label = std::move(label);
    p.send = send;
    p.recv = recv;
    p.send_bytes = std::move(send_bytes);
    p.recv_bytes = std::move(recv_bytes);
    return CommHandle(fabric_.submit(rank_, g, std::move(p)), &a2a_exposed_ms_);
  }
  CommHandle all_reduce_sum(Group g, float* data, int64_t n, std::string label) override {
    return reduction(g, FakeFabric::Kind::sum_f32, data, n, sizeof(float), std::move(label));
  }
  CommHandle all_reduce_sum(Group g, double* data, int64_t n, std::string label) override {
    return reduction(g, FakeFabric::Kind::sum_f64, data, n, sizeof(double), std::move(label));
  }
  CommHandle all_reduce_sum(Group g, int64_t* data, int64_t n, std::string label) override {
    return reduction(g, FakeFabric::Kind::sum_i64, data, n, sizeof(int64_t), std::move(label));
  }
  CommHandle all_reduce_max(Group g, int64_t* data, int64_t n, std::string label) override {
    return reduction(g, FakeFabric::Kind::max_i64, data, n, sizeof(int64_t), std::move(label));
  }
  CommHandle broadcast(Group g, void* data, int64_t bytes, int root, std::string label) override {
    FakeFabric::Part p;
    p.kind = FakeFabric::Kind::broadcast;
    p.label = std::move(label);
    p.data = data;
    p.n = bytes;
    p.root = root;
    return CommHandle(fabric_.submit(rank_, g, std::move(p)));
  }
  CommHandle barrier(Group g, std::string label) override {
    FakeFabric::Part p;
    p.kind = FakeFabric::Kind::barrier;
    p.label = std::move(label);
    return CommHandle(fabric_.submit(rank_, g, std::move(p)));
  }
  CommTimes take_times() override {
    CommTimes t;
    t.a2a_exposed_ms = a2a_exposed_ms_.exchange(0.0);
    t.allreduce_exposed_ms = allreduce_exposed_ms_.exchange(0.0);
    t.a2a_bytes = a2a_bytes_;
    t.allreduce_bytes = allreduce_bytes_;
    a2a_bytes_ = allreduce_bytes_ = 0;
    return t;
  }

 private:
  CommHandle reduction(Group g, FakeFabric::Kind kind, void* data, int64_t n, size_t elem, std::string label) {
    allreduce_bytes_ += n * int64_t(elem);
    FakeFabric::Part p;
    p.kind = kind;
    p.label = std::move(label);
    p.data = data;
    p.n = n;
    return CommHandle(fabric_.submit(rank_, g, std::move(p)), &allreduce_exposed_ms_);
  }

  FakeFabric& fabric_;
  int rank_;
  std::atomic<double> a2a_exposed_ms_{0.0}, allreduce_exposed_ms_{0.0};
  int64_t a2a_bytes_ = 0, allreduce_bytes_ = 0;
};

// Runs body(collectives, world_rank) on `world` threads over one fabric with EP
// size `ep` and joins them; rethrows the first failure (in time) of any rank.
inline void run_ranks(int world, int ep, const std::function<void(Collectives&, int)>& body, int ranks_per_node = 0,
                      double stall_seconds = 20.0) {
  SY_ASSERT(world > 0 && ep > 0 && world % ep == 0, "run_ranks: ep must divide the world size");
  FakeFabric fabric(GridShape{world, ep, ranks_per_node > 0 ? ranks_per_node : world}, stall_seconds);
  std::vector<std::unique_ptr<FakeCollectives>> comms;
  for (int r = 0; r < world; ++r) comms.push_back(std::make_unique<FakeCollectives>(fabric, r));

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr first_error;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return finished; })) fabric.fail_stalled();
  });
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r)
    ranks.emplace_back([&, r] {
      try {
        body(*comms[r], r);
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error) first_error = std::current_exception();
        }
        fabric.abort("rank " + std::to_string(r) + " failed: " + e.what());
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error) first_error = std::current_exception();
        }
        fabric.abort("rank " + std::to_string(r) + " failed");
      }
    });
  for (std::thread& t : ranks) t.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace sy::test
