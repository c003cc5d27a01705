// comm/transport.h — Transport: the interface that starts nonblocking collectives and tests them (the CommEngine drives it).
#pragma once
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace sy {

enum class OpKind { all_to_all_v, all_reduce, broadcast, barrier };
const char* op_kind_name(OpKind k);  // "all_to_all_v", "all_reduce", ...

enum class DataType { f32, f64, i64 };
enum class ReduceOp { sum, max };

// One collective as the engine hands it down.  Which fields matter depends on `kind`.
struct TransportOp {
  OpKind kind = OpKind::barrier;
  MPI_Comm comm = MPI_COMM_NULL;
  int64_t seq = 0;  // the engine's sequence number; 0 for start-up traffic outside the numbering

  // all_to_all_v: send_bytes[q] bytes to member q, packed in member order (likewise recv).
  const void* send = nullptr;
  std::vector<int64_t> send_bytes, recv_bytes;
  // all_to_all_v: where received bytes land; all_reduce: the in-place buffer;
  // broadcast: the buffer (source on the root, destination elsewhere).
  void* data = nullptr;
  int64_t count = 0;  // all_reduce: elements; broadcast: bytes
  DataType dtype = DataType::f32;
  ReduceOp reduce = ReduceOp::sum;
  int root = 0;  // broadcast: member index of the source
};

// An operation in flight; only its Transport knows what is inside.  It must be
// tested to completion before it is destroyed (MPI forbids freeing an active
// collective request); at process exit an abandoned one is simply leaked.
class TransportRequest {
 public:
  virtual ~TransportRequest() = default;
};

// The only code that posts collectives (MPI_Ialltoallv, MPI_Iallreduce,
// MPI_Ibcast, MPI_Ibarrier).  Called from one thread at a time (the engine's).
class Transport {
 public:
  virtual ~Transport() = default;
  // Posts the operation without waiting for it.  Throws CommError.
  virtual std::unique_ptr<TransportRequest> start(const TransportOp& op) = 0;
  // Drives progress (Open MPI advances nonblocking collectives only inside MPI
  // calls) and reports whether `request` has completed.  Throws CommError if it failed.
  virtual bool test(TransportRequest& request) = 0;
  // The engine gives up on the job (stall, failed op, lost rank) and is about to exit
  // the process: a transport whose operations run elsewhere stops them here (the NCCL
  // transport calls ncclCommAbort, so no GPU kernel keeps waiting for a dead peer).
  virtual void abort() noexcept {}
};

}  // namespace sy
