// runtime/tensor.cpp — shape formatting.
#include "runtime/tensor.h"

namespace sy {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace sy
