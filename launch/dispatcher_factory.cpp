// launch/dispatcher_factory.cpp — the MoE dispatcher for the run's parallel layout.
#include <memory>

#include "comm/collective_dispatcher.h"
#include "model/dispatcher.h"

namespace sy {

std::unique_ptr<Dispatcher<float>> make_dispatcher(Collectives& comm) {
  if (comm.size(Group::world) == 1) return std::make_unique<LocalDispatcher<float>>();
  return std::make_unique<CollectiveDispatcher<float>>(comm);
}

}  // namespace sy
