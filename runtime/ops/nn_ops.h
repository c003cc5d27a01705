// runtime/ops/nn_ops.h — NnOps<T>: (to be filled in) kernels of the nn group.
#pragma once
#include <cstdint>

namespace sy {

template <class T>
class NnOps {
 public:
  virtual ~NnOps() = default;
};

}  // namespace sy
