// runtime/shape_cache.h — ShapeCache: a size-capped, thread-safe map from a GEMM shape key to
// its prepared plan (oneDNN primitive, cuBLASLt descriptors + algorithm).
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace sy {

// Plans are built once per key and never evicted: entries stay at stable
// addresses (std::map nodes), so callers keep plain pointers.  A run can meet
// an unbounded number of shapes (expert GEMM row counts change every step with
// dropless routing), so past `capacity` keys a plan is built for the call and
// not kept: memory stays bounded, those calls pay the build each time.
template <class Key, class Plan>
class ShapeCache {
 public:
  explicit ShapeCache(size_t capacity) : capacity_(capacity) {}

  // The plan for `key`: the cached one, or make() — kept when there is room,
  // else moved into `spill` (which must outlive the use of the returned reference).
  template <class Make>
  const Plan& get(const Key& key, Make&& make, std::optional<Plan>& spill) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = plans_.find(key); it != plans_.end()) {
      ++hits_;
      return it->second;
    }
    ++builds_;
    Plan plan = make();
    if (plans_.size() < capacity_) return plans_.emplace(key, std::move(plan)).first->second;
    return spill.emplace(std::move(plan));
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.size();
  }
  size_t hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
  }
  size_t builds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return builds_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<Key, Plan> plans_;
  size_t capacity_;
  size_t hits_ = 0, builds_ = 0;
};

}  // namespace sy
