// comm/nccl/device_transport.cpp — make_device_transport: an NcclTransport that owns its NCCL grid and stream.
#include "comm/device_transport.h"

#include "comm/nccl/nccl_transport.h"
#include "runtime/cuda/cuda_handles.h"

namespace sy {
namespace {

// NcclTransport borrows its communicators and stream; this owner keeps them as long
// as the engine keeps the transport.  Members are built before the base class uses
// them through a holder base (initialised first).
struct NcclResources {
  NcclResources(const ParallelGrid& grid, int device) {
    SY_GPU(cudaSetDevice(device));
    stream = make_stream();
    nccl = NcclGrid::create(grid);
  }
  CudaStream stream;
  NcclGrid nccl;
};

class OwningNcclTransport final : private NcclResources, public NcclTransport {
 public:
  OwningNcclTransport(std::unique_ptr<Transport> host, const ParallelGrid& grid, int device)
      : NcclResources(grid, device), NcclTransport(std::move(host), nccl, device, stream.get()) {}
};

}  // namespace

std::unique_ptr<Transport> make_device_transport(std::unique_ptr<Transport> host, const ParallelGrid& grid, int device) {
  return std::make_unique<OwningNcclTransport>(std::move(host), grid, device);
}

}  // namespace sy
