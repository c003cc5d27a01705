// comm/mpi_runtime.h — MpiRuntime: RAII MPI_Init_thread/MPI_Finalize, world rank/size and host name.
#pragma once
#include <string>

namespace sy {

// Owns MPI for the life of the process; construct it first in main and let it
// die last (after every Communicator and the CommEngine).
//
// Thread level: after start-up exactly one thread (the CommEngine's) calls MPI,
// but it is not the main thread, which did MPI_Init and will do MPI_Finalize.
// That is MPI_THREAD_SERIALIZED (FUNNELED would require the main thread); a
// library that provides less makes the constructor throw CommError.
//
// Launched without mpirun the process is an MPI singleton: a world of 1.
// If MPI is already initialised (by an embedding program) it is left to its owner.
class MpiRuntime {
 public:
  MpiRuntime() : MpiRuntime(nullptr, nullptr) {}
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  const std::string& hostname() const { return hostname_; }
  // The thread level MPI provided (MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE).
  int thread_level() const { return thread_level_; }

 private:
  bool owns_ = false;
  int world_rank_ = 0, world_size_ = 1, thread_level_ = 0;
  std::string hostname_;
};

// This machine's host name (gethostname).
std::string local_hostname();

// This rank has told the others it stops because of an error (the CommEngine
// does this when it leaves with an error); they exit without MPI_Finalize.
// From then on the MpiRuntime destructor skips MPI_Finalize too: it would wait
// for ranks that never call it, and Open MPI 4.1's mpirun can hang when one rank
// finalizes while the others exit non-zero without finalizing (measured here:
// 1 run in 15).  The process's non-zero exit code then ends the job.
void mark_mpi_job_failed();
bool mpi_job_failed();

}  // namespace sy
