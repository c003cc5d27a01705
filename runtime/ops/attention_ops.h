// runtime/ops/attention_ops.h — AttentionOps<T>: (to be filled in) kernels of the attention group.
#pragma once
#include <cstdint>

namespace sy {

template <class T>
class AttentionOps {
 public:
  virtual ~AttentionOps() = default;
};

}  // namespace sy
