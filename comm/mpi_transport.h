// comm/mpi_transport.h — MpiTransport: Transport over MPI's nonblocking collectives.
#pragma once
#include "comm/transport.h"

namespace sy {

// MPI's counts and displacements are int: an all-to-all whose byte counts or
// offsets exceed 2^31-1 throws CommError; all-reduces and broadcasts larger than
// that are split into several MPI operations.
class MpiTransport : public Transport {
 public:
  std::unique_ptr<TransportRequest> start(const TransportOp& op) override;
  bool test(TransportRequest& request) override;
};

}  // namespace sy
