// comm/mpi_check.cpp — MPI error codes to CommError with call, place, rank and host.
#include "comm/mpi_check.h"

#include <unistd.h>

#include <sstream>

#include "runtime/error.h"

namespace sy {

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, len);
}

std::string mpi_where() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  int initialized = 0, finalized = 0, rank = -1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::ostringstream os;
  if (rank >= 0) os << "rank " << rank << " on ";
  os << host;
  return os.str();
}

void mpi_check(int rc, const char* call, std::source_location where) {
  if (rc == MPI_SUCCESS) return;
  std::ostringstream os;
  os << call << " failed: " << mpi_error_string(rc) << " (" << where.file_name() << ":" << where.line() << ", "
     << mpi_where() << ")";
  throw CommError(os.str());
}

void set_errors_return(MPI_Comm comm) { SY_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)); }

}  // namespace sy
