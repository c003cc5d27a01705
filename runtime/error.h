// runtime/error.h — the project's typed errors and the exit codes they map to (DESIGN.md §6).
#pragma once
#include <source_location>
#include <stdexcept>
#include <string>

namespace sy {

// Exit codes are a contract: 0 done, 2 usage/config, 3 data or checkpoint,
// 4 numerical failure, 5 communication failure or stall.
enum class ExitCode : int { ok = 0, usage = 2, data = 3, numerical = 4, comm = 5 };

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// A bad config key/value or an impossible combination; the message names the key.
struct ConfigError : Error {
  explicit ConfigError(const std::string& what) : Error(ExitCode::usage, what) {}
};
// Bad training data or a bad checkpoint; the message names the file (and dataset).
struct DataError : Error {
  explicit DataError(const std::string& what) : Error(ExitCode::data, what) {}
};
// Non-finite loss or gradients.
struct NumericalError : Error {
  explicit NumericalError(const std::string& what) : Error(ExitCode::numerical, what) {}
};
// A failed or stalled collective; the message names the op and the ranks.
struct CommError : Error {
  explicit CommError(const std::string& what) : Error(ExitCode::comm, what) {}
};

// Internal invariant violated: a bug, not a user error.  Use through SY_ASSERT.
[[noreturn]] void assertion_failed(const char* expr, const std::string& message,
                                   std::source_location where = std::source_location::current());

}  // namespace sy

#define SY_ASSERT(cond, msg)                                         \
  do {                                                               \
    if (!(cond)) ::sy::assertion_failed(#cond, (msg));               \
  } while (0)
