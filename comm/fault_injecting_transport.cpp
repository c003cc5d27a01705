// comm/fault_injecting_transport.cpp — injected latency, drops and failures around a real Transport.
#include "comm/fault_injecting_transport.h"

#include <string>

#include "runtime/error.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;

struct FaultyRequest : TransportRequest {
  std::unique_ptr<TransportRequest> inner;
  OpKind kind = OpKind::barrier;
  int64_t seq = 0;
  bool drop = false, fail = false, really_done = false;
  Clock::time_point done_at;
};

}  // namespace

FaultInjectingTransport::FaultInjectingTransport(std::unique_ptr<Transport> inner, int world_rank, FaultPlan plan)
    : inner_(std::move(inner)), world_rank_(world_rank), plan_(plan) {}

bool FaultInjectingTransport::applies(int64_t seq, int64_t fault_seq, int fault_rank) const {
  return seq > 0 && seq == fault_seq && (fault_rank < 0 || fault_rank == world_rank_);
}

std::unique_ptr<TransportRequest> FaultInjectingTransport::start(const TransportOp& op) {
  auto r = std::make_unique<FaultyRequest>();
  r->inner = inner_->start(op);
  r->kind = op.kind;
  r->seq = op.seq;
  r->drop = applies(op.seq, plan_.drop_seq, plan_.drop_rank);
  r->fail = applies(op.seq, plan_.fail_seq, plan_.fail_rank);
  return r;
}

bool FaultInjectingTransport::test(TransportRequest& request) {
  auto& r = static_cast<FaultyRequest&>(request);
  if (r.fail) throw CommError("injected failure of op seq " + std::to_string(r.seq) + " on rank " +
                              std::to_string(world_rank_) + " (FaultInjectingTransport)");
  if (!r.really_done) {
    if (!inner_->test(*r.inner)) return false;
    r.really_done = true;
    r.done_at = Clock::now();
  }
  if (r.drop) return false;
  if (r.kind == OpKind::all_to_all_v && plan_.a2a_latency_ms > 0)
    return std::chrono::duration<double, std::milli>(Clock::now() - r.done_at).count() >= plan_.a2a_latency_ms;
  return true;
}

}  // namespace sy
