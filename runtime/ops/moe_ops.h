// runtime/ops/moe_ops.h — MoeOps<T>: (to be filled in) kernels of the moe group.
#pragma once
#include <cstdint>

namespace sy {

template <class T>
class MoeOps {
 public:
  virtual ~MoeOps() = default;
};

}  // namespace sy
