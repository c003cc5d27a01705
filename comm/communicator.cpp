// comm/communicator.cpp — creating, describing and freeing communicators.
#include "comm/communicator.h"

#include <numeric>
#include <utility>

#include "comm/mpi_check.h"

namespace sy {

Communicator::Communicator(MPI_Comm owned) : comm_(owned) {
  set_errors_return(comm_);
  SY_MPI(MPI_Comm_rank(comm_, &rank_));
  SY_MPI(MPI_Comm_size(comm_, &size_));
  // Member order → world rank, so stall reports can name ranks the way users see them.
  MPI_Group mine, world;
  SY_MPI(MPI_Comm_group(comm_, &mine));
  SY_MPI(MPI_Comm_group(MPI_COMM_WORLD, &world));
  std::vector<int> members(size_);
  std::iota(members.begin(), members.end(), 0);
  world_ranks_.resize(size_);
  const int rc = MPI_Group_translate_ranks(mine, size_, members.data(), world, world_ranks_.data());
  MPI_Group_free(&mine);
  MPI_Group_free(&world);
  SY_MPI(rc);
}

Communicator::~Communicator() { release(); }

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      size_(other.size_),
      world_ranks_(std::move(other.world_ranks_)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
    world_ranks_ = std::move(other.world_ranks_);
  }
  return *this;
}

void Communicator::release() noexcept {
  if (comm_ == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);  // errors ignored: nothing sensible to do in a destructor
  comm_ = MPI_COMM_NULL;
}

Communicator Communicator::dup_world() {
  MPI_Comm c;
  SY_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &c));
  return Communicator(c);
}

Communicator Communicator::split(int color, int key) const {
  MPI_Comm c;
  SY_MPI(MPI_Comm_split(comm_, color, key, &c));
  return Communicator(c);
}

Communicator Communicator::split_shared(int key) const {
  MPI_Comm c;
  SY_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, key, MPI_INFO_NULL, &c));
  return Communicator(c);
}

}  // namespace sy
