// io/background_hasher.cpp — the helper thread behind overlapped checkpoint checksums.
#include "io/background_hasher.h"

#include <cstdio>

#include "io/checksum.h"
#include "runtime/error.h"

namespace sy {

BackgroundHasher::~BackgroundHasher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_one();
  if (thread_.joinable()) thread_.join();  // drains the queue first
}

BackgroundHasher::Ticket BackgroundHasher::submit(const void* data, size_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  const Ticket ticket = digests_.size();
  digests_.push_back(0);
  ready_.push_back(0);
  if (bytes < kInlineBytes) {
    lock.unlock();
    const uint64_t digest = xxh64(data, bytes);
    lock.lock();
    digests_[ticket] = digest;
    ready_[ticket] = 1;
    return ticket;
  }
  queue_.push_back(Job{data, bytes, ticket});
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  lock.unlock();
  work_ready_.notify_one();
  return ticket;
}

uint64_t BackgroundHasher::wait(Ticket ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  SY_ASSERT(ticket < ready_.size(), "unknown hash ticket");
  work_done_.wait(lock, [&] { return ready_[ticket] != 0; });
  return digests_[ticket];
}

void BackgroundHasher::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    const Job job = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const uint64_t digest = xxh64(job.data, job.bytes);
    lock.lock();
    digests_[job.ticket] = digest;
    ready_[job.ticket] = 1;
    work_done_.notify_all();
  }
}

namespace {
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

void ChecksumVerifier::expect(const void* data, size_t bytes, uint64_t stored, std::string where) {
  pending_.push_back(Pending{hasher_.submit(data, bytes), stored, std::move(where)});
}

void ChecksumVerifier::finish() {
  std::vector<Pending> pending;
  pending.swap(pending_);
  for (const Pending& p : pending) {
    const uint64_t digest = hasher_.wait(p.ticket);
    if (digest != p.stored)
      throw DataError(p.where + ": checksum mismatch (stored " + hex(p.stored) + ", data hashes to " + hex(digest) +
                      "): the file is corrupt");
  }
}

}  // namespace sy
