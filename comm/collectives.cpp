// comm/collectives.cpp — CommHandle and group names.
#include "comm/collectives.h"

#include <chrono>

namespace sy {

const char* group_name(Group g) {
  switch (g) {
    case Group::world: return "world";
    case Group::ep: return "ep";
    case Group::expert_dp: return "expert_dp";
    case Group::node: return "node";
  }
  return "?";
}

double CommHandle::wait() {
  if (!done_.valid()) return 0.0;
  const auto t0 = std::chrono::steady_clock::now();
  if (observer_ && !ready()) {
    observer_->wait_begins();
    done_.wait();
    observer_->wait_ends();
  }
  done_.get();  // rethrows the collective's failure
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (exposed_ms_) {
    double cur = exposed_ms_->load();
    while (!exposed_ms_->compare_exchange_weak(cur, cur + ms)) {
    }
  }
  return ms;
}

bool CommHandle::ready() const {
  return !done_.valid() || done_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace sy
