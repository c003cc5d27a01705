// comm/device_transport.h — the CommEngine's transport for train.device = cuda: NCCL for tensors, MPI for host buffers.
//
// One interface, two files chosen by CMake: comm/nccl/device_transport.cpp in builds
// with the CUDA backend, comm/device_transport/nccl_absent.cpp otherwise.
#pragma once
#include <memory>

#include "comm/parallel_grid.h"
#include "comm/transport.h"

namespace sy {

// Wraps `host` (MPI, possibly hierarchical) so that operations on device or managed
// memory — with train.device = cuda every tensor, so the MoE all-to-alls and the
// gradient buckets — run on NCCL communicators mirroring `grid`, on a communication
// stream of their own (they overlap the compute stream's kernels); host buffers
// (count exchanges, control flags) still go to `host`.  GPU `device` must be the
// rank's compute device.  Collective over the world (NCCL ids travel over MPI): call
// at start-up, before the CommEngine takes over MPI.  Without the CUDA backend:
// ConfigError (exit 2).
std::unique_ptr<Transport> make_device_transport(std::unique_ptr<Transport> host, const ParallelGrid& grid, int device);

}  // namespace sy
