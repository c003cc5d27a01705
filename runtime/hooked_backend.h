// runtime/hooked_backend.h — hook_backend: a Backend<T> whose every op call is reported to hooks before and after it runs.
//
// Two uses: the CUDA training backend synchronises its stream after every op
// (host code may then touch any tensor between ops), and a test checks that
// model code hands every op memory the compute device can address (tensor
// memory, never a std::vector of host memory).
#pragma once
#include <initializer_list>
#include <memory>

#include "runtime/backend.h"

namespace sy {

class OpHooks {
 public:
  virtual ~OpHooks() = default;
  // `operands`: every memory operand of the op that the interface says is device
  // memory — inputs and outputs, null where the op's optional operand is absent.
  // (Host-side arguments by contract, such as router_statistics' sums or the
  // GemmGroupItem array itself, are not listed; the items' A, B and C are.)
  virtual void before(const char* op, std::initializer_list<const void*> operands) {
    (void)op, (void)operands;
  }
  virtual void after(const char* op) { (void)op; }
};

// `inner` with every op of every group wrapped: hooks->before(op, operands), the op, hooks->after(op).
template <class T>
Backend<T> hook_backend(Backend<T> inner, std::shared_ptr<OpHooks> hooks);

}  // namespace sy
