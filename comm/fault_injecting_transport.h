// comm/fault_injecting_transport.h — FaultInjectingTransport: a Transport decorator that delays, drops or fails operations (tests only).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>

#include "comm/transport.h"

namespace sy {

// Faults name operations by the engine's sequence number, which is the same on
// every rank, and apply on one world rank (or on every rank when the rank is -1).
struct FaultPlan {
  // Every all-to-all reports done only this long after it really completed.
  double a2a_latency_ms = 0;
  // "Drop": op `drop_seq` is really posted but never reports done on `drop_rank`.
  int64_t drop_seq = -1;
  int drop_rank = -1;
  // "Fail": op `fail_seq` is really posted, then its first test on `fail_rank` throws CommError.
  int64_t fail_seq = -1;
  int fail_rank = -1;
};

class FaultInjectingTransport : public Transport {
 public:
  FaultInjectingTransport(std::unique_ptr<Transport> inner, int world_rank, FaultPlan plan);

  std::unique_ptr<TransportRequest> start(const TransportOp& op) override;
  bool test(TransportRequest& request) override;
  void abort() noexcept override { inner_->abort(); }

 private:
  bool applies(int64_t seq, int64_t fault_seq, int fault_rank) const;

  std::unique_ptr<Transport> inner_;
  int world_rank_;
  FaultPlan plan_;
};

}  // namespace sy
