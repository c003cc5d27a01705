// comm/mpi_runtime.cpp — MPI start-up and shut-down.
#include "comm/mpi_runtime.h"

#include <mpi.h>
#include <unistd.h>

#include <atomic>

#include "comm/mpi_check.h"
#include "runtime/error.h"

namespace sy {
namespace {

std::atomic<bool> job_failed{false};

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
  }
  return "unknown";
}

}  // namespace

std::string local_hostname() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "unknown-host";
  return host;
}

MpiRuntime::MpiRuntime(int* argc, char*** argv) : hostname_(local_hostname()) {
  int initialized = 0;
  SY_MPI(MPI_Initialized(&initialized));
  if (initialized) {
    SY_MPI(MPI_Query_thread(&thread_level_));
  } else {
    SY_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level_));
    owns_ = true;
  }
  set_errors_return(MPI_COMM_WORLD);
  set_errors_return(MPI_COMM_SELF);
  if (thread_level_ < MPI_THREAD_SERIALIZED) {
    const std::string msg = std::string("MPI provides only ") + thread_level_name(thread_level_) +
                            "; the CommEngine calls MPI from its own thread and needs MPI_THREAD_SERIALIZED (" +
                            mpi_where() + ")";
    if (owns_) MPI_Finalize();
    owns_ = false;
    throw CommError(msg);
  }
  SY_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
  SY_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
}

void mark_mpi_job_failed() { job_failed = true; }
bool mpi_job_failed() { return job_failed.load(); }

MpiRuntime::~MpiRuntime() {
  if (!owns_ || mpi_job_failed()) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace sy
