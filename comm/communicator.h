// comm/communicator.h — Communicator: an owning (RAII, move-only) MPI_Comm with its rank, size and members.
#pragma once
#include <mpi.h>

#include <vector>

namespace sy {

// Frees its MPI_Comm on destruction, so every Communicator must die before
// MPI_Finalize (i.e. before the MpiRuntime).  MPI_ERRORS_RETURN is installed on
// every communicator it creates.  Creating one is collective over the parent.
class Communicator {
 public:
  Communicator() = default;  // MPI_COMM_NULL
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // A private copy of MPI_COMM_WORLD: our collectives never mix with anyone else's.
  static Communicator dup_world();

  // Members with the same `color` form one communicator, ordered by `key`.
  Communicator split(int color, int key) const;
  // The ranks that share memory with this one (one communicator per node).
  Communicator split_shared(int key) const;

  MPI_Comm get() const { return comm_; }
  bool valid() const { return comm_ != MPI_COMM_NULL; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  // World rank of every member, in member order.
  const std::vector<int>& world_ranks() const { return world_ranks_; }

 private:
  explicit Communicator(MPI_Comm owned);
  void release() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = -1, size_ = 0;
  std::vector<int> world_ranks_;
};

}  // namespace sy
