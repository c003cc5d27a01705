// comm/nccl/nccl_comms.cpp — creating the NCCL communicators from MPI-broadcast ids; grouped send/recv all-to-all-v.
#include "comm/nccl/nccl_comms.h"

#include <utility>

#include "comm/mpi_check.h"
#include "runtime/cuda/cuda_check.h"

namespace sy {

NcclComm::~NcclComm() {
  if (comm_) (void)ncclCommDestroy(comm_);
}
NcclComm::NcclComm(NcclComm&& o) noexcept
    : comm_(std::exchange(o.comm_, nullptr)), rank_(o.rank_), size_(o.size_) {}
NcclComm& NcclComm::operator=(NcclComm&& o) noexcept {
  if (this != &o) {
    if (comm_) (void)ncclCommDestroy(comm_);
    comm_ = std::exchange(o.comm_, nullptr);
    rank_ = o.rank_;
    size_ = o.size_;
  }
  return *this;
}
void NcclComm::abort() noexcept {
  if (comm_) (void)ncclCommAbort(std::exchange(comm_, nullptr));
}

namespace {
NcclComm make_comm(const Communicator& mpi) {
  ncclUniqueId id{};
  if (mpi.rank() == 0) SY_GPU(ncclGetUniqueId(&id));
  SY_MPI(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi.get()));
  ncclComm_t comm = nullptr;
  SY_GPU(ncclCommInitRank(&comm, mpi.size(), id, mpi.rank()));
  return NcclComm(comm, mpi.rank(), mpi.size());
}
}  // namespace

NcclGrid NcclGrid::create(const ParallelGrid& grid) {
  NcclGrid g;
  g.grid_ = &grid;
  // Every rank creates the three in the same order: each init is collective over its group.
  g.world_ = make_comm(grid.comm(Group::world));
  g.ep_ = make_comm(grid.comm(Group::ep));
  g.expert_dp_ = make_comm(grid.comm(Group::expert_dp));
  return g;
}

const NcclComm& NcclGrid::comm(Group g) const {
  switch (g) {
    case Group::world: return world_;
    case Group::ep: return ep_;
    case Group::expert_dp: return expert_dp_;
    case Group::node: break;
  }
  throw CommError("NCCL: the node group has no NCCL communicator");
}

ncclComm_t NcclGrid::find(MPI_Comm mpi) const {
  for (Group g : {Group::world, Group::ep, Group::expert_dp})
    if (grid_->comm(g).get() == mpi) return comm(g).get();
  return nullptr;
}

void NcclGrid::abort_all() noexcept {
  world_.abort();
  ep_.abort();
  expert_dp_.abort();
}

void nccl_all_to_all_v(ncclComm_t comm, const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                       const std::vector<int64_t>& recv_bytes, cudaStream_t stream) {
  std::vector<PeerTransfer> plan;
  try {
    plan = plan_all_to_all(send_bytes, recv_bytes);
  } catch (const std::invalid_argument& e) {
    throw CommError(std::string("NCCL ") + e.what());
  }
  const auto* src = static_cast<const std::byte*>(send);
  auto* dst = static_cast<std::byte*>(recv);
  SY_GPU(ncclGroupStart());
  // ncclGroupEnd must follow ncclGroupStart even when a post fails, or this thread's
  // NCCL state stays inside the group.
  try {
    for (const PeerTransfer& t : plan) {
      if (t.send_bytes > 0)
        SY_GPU(ncclSend(src + t.send_offset, size_t(t.send_bytes), ncclUint8, t.peer, comm, stream));
      if (t.recv_bytes > 0)
        SY_GPU(ncclRecv(dst + t.recv_offset, size_t(t.recv_bytes), ncclUint8, t.peer, comm, stream));
    }
  } catch (...) {
    (void)ncclGroupEnd();
    throw;
  }
  SY_GPU(ncclGroupEnd());
}

void nccl_all_reduce_sum(ncclComm_t comm, float* data, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  SY_GPU(ncclAllReduce(data, data, size_t(n), ncclFloat32, ncclSum, comm, stream));
}

}  // namespace sy
