// comm/nccl/nccl_transport.cpp — posting engine operations to NCCL (device buffers) or MPI (host buffers), testing by event.
#include "comm/nccl/nccl_transport.h"

#include <string>

#include "runtime/cuda/cuda_handles.h"

namespace sy {

namespace {

struct HostRequest : TransportRequest {
  std::unique_ptr<TransportRequest> inner;
};

struct DeviceRequest : TransportRequest {
  CudaEvent done;
  ncclComm_t comm = nullptr;
  int64_t seq = 0;
};

ncclDataType_t nccl_type(DataType t) {
  switch (t) {
    case DataType::f32: return ncclFloat32;
    case DataType::f64: return ncclFloat64;
    case DataType::i64: return ncclInt64;
  }
  return ncclFloat32;
}

// Whether an operation goes to NCCL: its non-null buffers are all device memory, or it
// has none.  A rank with nothing to send or receive in an all-to-all may pass null
// buffers, yet must join its peers' NCCL group; host traffic (control flags, the
// engine's start-up) always carries host buffers.  Mixed buffers are a CommError.
bool on_device(const TransportOp& op) {
  const void* buffers[2] = {op.kind == OpKind::all_to_all_v ? op.send : op.data, op.data};
  int device = 0, host = 0;
  for (const void* b : buffers)
    if (b) (is_device_pointer(b) ? device : host)++;
  if (device > 0 && host > 0)
    throw CommError(std::string(op_kind_name(op.kind)) + " seq " + std::to_string(op.seq) +
                    " mixes host and device buffers");
  return host == 0;
}

}  // namespace

bool is_device_pointer(const void* p) {
  if (!p) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // not a pointer CUDA knows: host memory
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

NcclTransport::NcclTransport(std::unique_ptr<Transport> host, NcclGrid& nccl, int device, cudaStream_t stream)
    : host_(std::move(host)), nccl_(nccl), device_(device), stream_(stream) {}

NcclTransport::~NcclTransport() = default;

std::unique_ptr<TransportRequest> NcclTransport::start(const TransportOp& op) {
  // The current device is per thread, and this runs on the engine's thread; without
  // this it would be device 0, whose context every rank of the node would then create.
  SY_GPU(cudaSetDevice(device_));
  if (op.kind == OpKind::barrier || !on_device(op)) {
    auto r = std::make_unique<HostRequest>();
    r->inner = host_->start(op);
    return r;
  }
  ncclComm_t comm = nccl_.find(op.comm);
  if (!comm)
    throw CommError(std::string(op_kind_name(op.kind)) + " seq " + std::to_string(op.seq) +
                    " on a communicator with no NCCL twin (only world, ep and expert_dp have one)");
  switch (op.kind) {
    case OpKind::all_to_all_v:
      nccl_all_to_all_v(comm, op.send, op.send_bytes, op.data, op.recv_bytes, stream_);
      break;
    case OpKind::all_reduce:
      SY_GPU(ncclAllReduce(op.data, op.data, size_t(op.count), nccl_type(op.dtype),
                           op.reduce == ReduceOp::sum ? ncclSum : ncclMax, comm, stream_));
      break;
    case OpKind::broadcast:
      SY_GPU(ncclBroadcast(op.data, op.data, size_t(op.count), ncclUint8, op.root, comm, stream_));
      break;
    case OpKind::barrier:
      break;  // handled by the host transport above
  }
  auto r = std::make_unique<DeviceRequest>();
  r->done = make_event();
  r->comm = comm;
  r->seq = op.seq;
  SY_GPU(cudaEventRecord(r->done.get(), stream_));
  return r;
}

bool NcclTransport::test(TransportRequest& request) {
  if (auto* h = dynamic_cast<HostRequest*>(&request)) return host_->test(*h->inner);
  auto& r = static_cast<DeviceRequest&>(request);
  SY_GPU(cudaSetDevice(device_));
  const cudaError_t state = cudaEventQuery(r.done.get());
  if (state == cudaSuccess) return true;
  if (state != cudaErrorNotReady) gpu_check(state, "cudaEventQuery (completion of an NCCL operation)");
  // Still running: a communicator that failed (peer gone, network error) says so here.
  ncclResult_t async = ncclSuccess;
  SY_GPU(ncclCommGetAsyncError(r.comm, &async));
  if (async != ncclSuccess && async != ncclInProgress) gpu_check(async, "NCCL communicator (ncclCommGetAsyncError)");
  return false;
}

void NcclTransport::abort() noexcept {
  nccl_.abort_all();
  host_->abort();
}

}  // namespace sy
