// comm/nccl/nccl_comms.h — NcclComm (RAII ncclComm_t) and NcclGrid: NCCL communicators mirroring the MPI grid.
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdint>
#include <vector>

#include "comm/nccl/a2a_plan.h"
#include "comm/parallel_grid.h"

namespace sy {

// Owns one communicator.  Destruction is ncclCommDestroy (waits for pending work);
// abort() is ncclCommAbort (stops it now, for a job that is giving up).
class NcclComm {
 public:
  NcclComm() = default;
  NcclComm(ncclComm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~NcclComm();
  NcclComm(NcclComm&& o) noexcept;
  NcclComm& operator=(NcclComm&& o) noexcept;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  ncclComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  void abort() noexcept;

 private:
  ncclComm_t comm_ = nullptr;
  int rank_ = -1, size_ = 0;
};

// The world, EP and expert-DP groups of a ParallelGrid, as NCCL communicators with the
// same members in the same order.  Each is created from an ncclUniqueId that the
// group's member 0 draws and broadcasts over the group's MPI communicator.
// Creation is collective over the world and uses MPI directly, so it happens at
// start-up, before the CommEngine takes over MPI.  The calling thread must have
// selected its device (cudaSetDevice) first.
class NcclGrid {
 public:
  static NcclGrid create(const ParallelGrid& grid);

  const NcclComm& comm(Group g) const;  // world, ep or expert_dp (node has no NCCL communicator)
  // The NCCL communicator with the members of `mpi`, one of the grid's communicators; null if none.
  ncclComm_t find(MPI_Comm mpi) const;
  void abort_all() noexcept;

 private:
  const ParallelGrid* grid_ = nullptr;
  NcclComm world_, ep_, expert_dp_;
};

// The collectives on `stream`, asynchronous like any kernel launch.  Buffers are device memory.
// All-to-all-v: grouped ncclSend/ncclRecv, one pair per peer with bytes either way.
void nccl_all_to_all_v(ncclComm_t comm, const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                       const std::vector<int64_t>& recv_bytes, cudaStream_t stream);
// In-place float sum (gradients).
void nccl_all_reduce_sum(ncclComm_t comm, float* data, int64_t n, cudaStream_t stream);

}  // namespace sy
