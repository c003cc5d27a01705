// runtime/error.cpp — assertion failure reporting.
#include "runtime/error.h"

#include <sstream>

namespace sy {

void assertion_failed(const char* expr, const std::string& message, std::source_location where) {
  std::ostringstream os;
  os << "internal error: " << message << " (" << expr << " failed at " << where.file_name() << ":"
     << where.line() << ")";
  throw std::logic_error(os.str());
}

}  // namespace sy
