// comm/gradient_sync.h — GradientSync: bucketed gradient all-reduce that overlaps the backward pass.
#pragma once
#include <vector>

#include "comm/collectives.h"
#include "runtime/parameters.h"

namespace sy {

// Dense gradients are summed over the world, expert gradients over the
// expert-DP group (the replicas of the same shard; nothing to do when it has
// one member).  Parameters are grouped into buckets of at most `bucket_mb` in
// the order backward finishes them ("stages"): the head and final norm first,
// then layers n−1 … 0, then the embeddings.  A bucket's all-reduce is submitted
// as soon as the backward of its last stage is done, so it runs while earlier
// blocks are still being differentiated.  A bucket holds whole stages (a stage
// joins it only if all of it fits; a stage larger than a bucket is split over
// buckets of its own), so no gradient waits in a bucket for a later stage that
// would not have fitted anyway: with stages of 21, 12.6 and 16.8 MB left at the
// end and 25 MB buckets, the last two go out as two buckets, not one bucket of
// the first 25 MB held until the second-last stage is done.
class GradientSync {
 public:
  GradientSync(ParameterSet<float>& params, Collectives& comm, double bucket_mb, int n_layers);

  // The backward pass "stage" that finalises a parameter: n_layers for the head
  // and final norm, l for decoder/layers/l/..., −1 for the embeddings (tied
  // output weights included: the embedding backward is their last writer).
  static int stage_of(const std::string& name, int n_layers);

  // Before the backward whose gradients are final (the last micro-batch).
  void begin();
  // After the backward of stage `stage` finished: submits every bucket it completes.
  void stage_done(int stage);
  // Submits what is left, waits for every bucket and copies the sums back.
  void finish();

  size_t buckets() const { return buckets_.size(); }
  bool active() const { return !buckets_.empty(); }

 private:
  struct Bucket {
    Group group = Group::world;
    int ready_stage = 0;  // the bucket is complete once this stage is done
    std::vector<Parameter<float>*> params;
    Tensor<float> buffer;  // tensor memory: with train.device = cuda the all-reduce runs on NCCL
    CommHandle handle;
    bool submitted = false;
  };
  void submit(Bucket& b);
  void build(ParameterSet<float>& params, ParamGroup kind, Group group, double bucket_mb, int n_layers);

  Collectives& comm_;
  std::vector<Bucket> buckets_;
};

}  // namespace sy
