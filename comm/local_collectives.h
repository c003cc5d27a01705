// comm/local_collectives.h — LocalCollectives: the Collectives of a world of one process (no MPI).
#pragma once
#include "comm/collectives.h"

namespace sy {

// Every group has one member; every operation completes at once.  Lets the
// trainer run the same code with and without mpirun.
class LocalCollectives final : public Collectives {
 public:
  int rank(Group) const override { return 0; }
  int size(Group) const override { return 1; }
  CommHandle all_to_all_v(Group g, const void* send, std::vector<int64_t> send_bytes, void* recv,
                          std::vector<int64_t> recv_bytes, std::string label) override;
  CommHandle all_reduce_sum(Group, float*, int64_t, std::string) override { return done(); }
  CommHandle all_reduce_sum(Group, double*, int64_t, std::string) override { return done(); }
  CommHandle all_reduce_sum(Group, int64_t*, int64_t, std::string) override { return done(); }
  CommHandle all_reduce_max(Group, int64_t*, int64_t, std::string) override { return done(); }
  CommHandle broadcast(Group, void*, int64_t, int, std::string) override { return done(); }
  CommHandle barrier(Group, std::string) override { return done(); }
  CommTimes take_times() override { return {}; }

 private:
  static CommHandle done();
};

}  // namespace sy
