// comm/mpi_transport.cpp — posting and testing MPI nonblocking collectives.
#include "comm/mpi_transport.h"

#include <algorithm>
#include <climits>
#include <string>

#include "comm/mpi_check.h"
#include "runtime/error.h"

namespace sy {
namespace {

struct MpiRequest : TransportRequest {
  std::vector<MPI_Request> requests;
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;  // alive until completion
  bool done = false;
};

MPI_Datatype mpi_type(DataType t) {
  switch (t) {
    case DataType::f32: return MPI_FLOAT;
    case DataType::f64: return MPI_DOUBLE;
    case DataType::i64: return MPI_INT64_T;
  }
  return MPI_BYTE;
}

size_t type_size(DataType t) { return t == DataType::f32 ? 4 : 8; }

// Byte counts and their running offsets as MPI's ints.
void to_int_counts(const std::vector<int64_t>& bytes, std::vector<int>& counts, std::vector<int>& displs,
                   const TransportOp& op, const char* side) {
  int64_t offset = 0;
  counts.reserve(bytes.size());
  displs.reserve(bytes.size());
  for (int64_t b : bytes) {
    if (b < 0 || b > INT_MAX || offset > INT_MAX)
      throw CommError("all_to_all_v seq " + std::to_string(op.seq) + ": " + side + " count " + std::to_string(b) +
                      " at offset " + std::to_string(offset) + " exceeds MPI's int range (2^31-1 bytes)");
    counts.push_back(static_cast<int>(b));
    displs.push_back(static_cast<int>(offset));
    offset += b;
  }
}

// Pieces small enough for MPI's int count.
constexpr int64_t kMaxPiece = INT_MAX / 2;

}  // namespace

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::all_to_all_v: return "all_to_all_v";
    case OpKind::all_reduce: return "all_reduce";
    case OpKind::broadcast: return "broadcast";
    case OpKind::barrier: return "barrier";
  }
  return "?";
}

std::unique_ptr<TransportRequest> MpiTransport::start(const TransportOp& op) {
  auto r = std::make_unique<MpiRequest>();
  switch (op.kind) {
    case OpKind::all_to_all_v: {
      to_int_counts(op.send_bytes, r->send_counts, r->send_displs, op, "send");
      to_int_counts(op.recv_bytes, r->recv_counts, r->recv_displs, op, "receive");
      MPI_Request q;
      SY_MPI(MPI_Ialltoallv(op.send, r->send_counts.data(), r->send_displs.data(), MPI_BYTE, op.data,
                            r->recv_counts.data(), r->recv_displs.data(), MPI_BYTE, op.comm, &q));
      r->requests.push_back(q);
      break;
    }
    case OpKind::all_reduce: {
      const MPI_Op mop = op.reduce == ReduceOp::sum ? MPI_SUM : MPI_MAX;
      auto* base = static_cast<char*>(op.data);
      int64_t first = 0;
      do {  // a zero-count all-reduce is still posted: every member takes part
        const int n = static_cast<int>(std::min(kMaxPiece, op.count - first));
        MPI_Request q;
        SY_MPI(MPI_Iallreduce(MPI_IN_PLACE, base + first * type_size(op.dtype), n, mpi_type(op.dtype), mop, op.comm,
                              &q));
        r->requests.push_back(q);
        first += n;
      } while (first < op.count);
      break;
    }
    case OpKind::broadcast: {
      auto* base = static_cast<char*>(op.data);
      int64_t first = 0;
      do {
        const int n = static_cast<int>(std::min(kMaxPiece, op.count - first));
        MPI_Request q;
        SY_MPI(MPI_Ibcast(base + first, n, MPI_BYTE, op.root, op.comm, &q));
        r->requests.push_back(q);
        first += n;
      } while (first < op.count);
      break;
    }
    case OpKind::barrier: {
      MPI_Request q;
      SY_MPI(MPI_Ibarrier(op.comm, &q));
      r->requests.push_back(q);
      break;
    }
  }
  return r;
}

bool MpiTransport::test(TransportRequest& request) {
  auto& r = static_cast<MpiRequest&>(request);
  if (r.done) return true;
  int flag = 0;
  SY_MPI(MPI_Testall(static_cast<int>(r.requests.size()), r.requests.data(), &flag, MPI_STATUSES_IGNORE));
  r.done = flag != 0;
  return r.done;
}

}  // namespace sy
