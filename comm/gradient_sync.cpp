// comm/gradient_sync.cpp — bucket layout, submission as stages complete, copy-back.
#include "comm/gradient_sync.h"

#include <algorithm>
#include <cstring>

namespace sy {

int GradientSync::stage_of(const std::string& name, int n_layers) {
  static const std::string layers = "decoder/layers/";
  if (name.rfind(layers, 0) == 0) return std::stoi(name.substr(layers.size()));
  if (name.rfind("decoder/embed_", 0) == 0) return -1;
  return n_layers;  // decoder/layer_norm, decoder/output_projection
}

GradientSync::GradientSync(ParameterSet<float>& params, Collectives& comm, double bucket_mb, int n_layers)
    : comm_(comm) {
  if (comm.size(Group::world) > 1) build(params, ParamGroup::dense, Group::world, bucket_mb, n_layers);
  if (comm.size(Group::expert_dp) > 1) build(params, ParamGroup::expert, Group::expert_dp, bucket_mb, n_layers);
}

void GradientSync::build(ParameterSet<float>& params, ParamGroup kind, Group group, double bucket_mb, int n_layers) {
  std::vector<Parameter<float>*> order;
  for (auto& p : params)
    if (p.trainable && p.group == kind) order.push_back(&p);
  // Backward order: later stages finish first; within a stage keep creation order.
  std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) {
    return stage_of(a->name, n_layers) > stage_of(b->name, n_layers);
  });
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1024 * 1024 / sizeof(float)));
  Bucket* open = nullptr;
  int64_t open_elems = 0;
  auto start_bucket = [&] {
    open = &buckets_.emplace_back();
    open->group = group;
    open_elems = 0;
  };
  for (size_t i = 0; i < order.size();) {
    // Stage s holds order[i, j).  It joins the open bucket only if all of it
    // fits: a bucket goes out when its last stage is done, so a later stage
    // must not hold back the earlier stages' gradients already waiting in it.
    const int s = stage_of(order[i]->name, n_layers);
    size_t j = i;
    int64_t stage_elems = 0;
    while (j < order.size() && stage_of(order[j]->name, n_layers) == s) stage_elems += order[j++]->grad.numel();
    if (!open || open_elems + stage_elems > cap) start_bucket();
    for (; i < j; ++i) {
      const int64_t n = order[i]->grad.numel();
      if (open_elems > 0 && open_elems + n > cap) start_bucket();  // a stage larger than a bucket is split
      open->params.push_back(order[i]);
      open->ready_stage = s;
      open_elems += n;
    }
  }
  for (auto& b : buckets_)
    if (b.group == group) {
      int64_t n = 0;
      for (auto* p : b.params) n += p->grad.numel();
      b.buffer.resize({n});
    }
}

void GradientSync::begin() {
  for (auto& b : buckets_) b.submitted = false;
}

void GradientSync::submit(Bucket& b) {
  float* dst = b.buffer.data();
  for (auto* p : b.params) {
    std::memcpy(dst, p->grad.data(), sizeof(float) * p->grad.numel());
    dst += p->grad.numel();
  }
  b.handle = comm_.all_reduce_sum(b.group, b.buffer.data(), b.buffer.numel(),
                                  std::string("grads.") + group_name(b.group) + " stage " + std::to_string(b.ready_stage));
  b.submitted = true;
}

void GradientSync::stage_done(int stage) {
  // Every rank holds the same bucket list and sees the same stages, so the
  // submission order (and with it the collectives' sequence) agrees everywhere.
  for (auto& b : buckets_)
    if (!b.submitted && b.ready_stage >= stage) submit(b);
}

void GradientSync::finish() {
  for (auto& b : buckets_)
    if (!b.submitted) submit(b);
  for (auto& b : buckets_) {
    b.handle.wait();
    const float* src = b.buffer.data();
    for (auto* p : b.params) {
      std::memcpy(p->grad.data(), src, sizeof(float) * p->grad.numel());
      src += p->grad.numel();
    }
  }
}

}  // namespace sy
