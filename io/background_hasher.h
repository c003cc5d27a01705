// io/background_hasher.h — xxh64 on a helper thread, so that checkpoint I/O and
// checksumming overlap instead of adding up.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sy {

// Hashes buffers in submission order on one lazily started thread.  Buffers
// below kInlineBytes are hashed on the caller's thread at submit (handing them
// over would cost more than hashing them).  A submitted buffer must stay
// unchanged until its digest has been waited for or the hasher is destroyed;
// the destructor waits for queued work, so buffers that outlive the hasher are
// always safe.
class BackgroundHasher {
 public:
  using Ticket = size_t;
  static constexpr size_t kInlineBytes = size_t(1) << 20;

  BackgroundHasher() = default;
  ~BackgroundHasher();
  BackgroundHasher(const BackgroundHasher&) = delete;
  BackgroundHasher& operator=(const BackgroundHasher&) = delete;

  Ticket submit(const void* data, size_t bytes);
  uint64_t wait(Ticket ticket);  // the XXH64 (seed 0) of the submitted bytes

 private:
  struct Job {
    const void* data;
    size_t bytes;
    Ticket ticket;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable work_ready_, work_done_;
  std::deque<Job> queue_;
  std::vector<uint64_t> digests_;
  std::vector<char> ready_;
  bool stop_ = false;
  std::thread thread_;
};

// Deferred checksum checks for a run of dataset reads: each read's bytes are
// hashed while the next dataset is read.  finish() throws DataError
// "<where>: checksum mismatch ..." for the first (in read order) dataset that
// does not match; data read before finish() is not yet verified.
class ChecksumVerifier {
 public:
  void expect(const void* data, size_t bytes, uint64_t stored, std::string where);
  void finish();

 private:
  struct Pending {
    BackgroundHasher::Ticket ticket;
    uint64_t stored;
    std::string where;
  };
  std::vector<Pending> pending_;
  BackgroundHasher hasher_;  // destroyed first: waits for buffers still being hashed
};

}  // namespace sy
