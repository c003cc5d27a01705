// comm/mpi_check.h — mpi_check: the one checker of MPI return codes (throws CommError naming call, error, place, rank, host).
#pragma once
#include <mpi.h>

#include <source_location>
#include <string>

namespace sy {

// Every MPI call in comm/ goes through this: MPI_SUCCESS returns, anything else
// throws CommError "<call> failed: <MPI error string> (file:line, rank R on HOST)".
// Communicators get MPI_ERRORS_RETURN (see set_errors_return) so failures come
// back here as codes instead of aborting the job without a word.
void mpi_check(int rc, const char* call, std::source_location where = std::source_location::current());

// MPI's text for an error code ("MPI_ERR_TRUNCATE: message truncated").
std::string mpi_error_string(int rc);

// Installs MPI_ERRORS_RETURN on `comm`.
void set_errors_return(MPI_Comm comm);

// "rank R on HOST" for messages; works before MPI_Init and after MPI_Finalize.
std::string mpi_where();

}  // namespace sy

// Checks an MPI call and names it by its text: SY_MPI(MPI_Comm_rank(comm, &r));
#define SY_MPI(call) ::sy::mpi_check((call), #call)
