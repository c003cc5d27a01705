// comm/nccl/nccl_transport.h — NcclTransport: the CommEngine's Transport for device buffers (NCCL), host buffers to MPI.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>

#include "comm/nccl/nccl_comms.h"
#include "comm/transport.h"

namespace sy {

// Sits under the CommEngine, so NCCL operations get the engine's sequence numbers,
// timing, records and stall reports exactly like MPI ones.  An operation whose
// buffers are device memory is posted to NCCL on `stream` and followed by an event;
// test() is cudaEventQuery plus ncclCommGetAsyncError (a failed communicator throws
// CommError).  Barriers and operations on host memory (the trainer's control traffic,
// the engine's own start-up) go to `host` (MPI) unchanged; an operation with only null
// buffers (a rank with nothing to exchange) goes to NCCL with its peers.  When the engine gives up
// (stall, failure), abort() calls ncclCommAbort on every communicator.
class NcclTransport : public Transport {
 public:
  // `device` is the rank's GPU (the one `stream` and the communicators live on): the
  // engine thread that calls start() and test() selects it before any CUDA call.
  NcclTransport(std::unique_ptr<Transport> host, NcclGrid& nccl, int device, cudaStream_t stream);
  ~NcclTransport() override;

  std::unique_ptr<TransportRequest> start(const TransportOp& op) override;
  bool test(TransportRequest& request) override;
  void abort() noexcept override;

 private:
  std::unique_ptr<Transport> host_;
  NcclGrid& nccl_;
  int device_;
  cudaStream_t stream_;
};

// Whether `p` is device (or managed) memory, per cudaPointerGetAttributes; null and
// plain host memory are not.
bool is_device_pointer(const void* p);

}  // namespace sy
