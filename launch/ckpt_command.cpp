// launch/ckpt_command.cpp — `switchyard ckpt`: ls, show and diff, and the dispatch to verify and reshard.
#include <cstdio>
#include <map>

#include "io/checkpoint_inspect.h"
#include "launch/ckpt_actions.h"
#include "launch/commands.h"

namespace sy {

namespace {

int ckpt_ls(const CliCommand& cmd) {
  const auto entries = scan_checkpoint_dir(cmd.paths[0]);
  for (const CheckpointDirEntry& e : entries)
    std::printf("%-24s step %-8lld %10llu bytes (%s)  %s%s\n", e.name.c_str(), (long long)e.step,
                (unsigned long long)e.bytes, human_bytes(e.bytes).c_str(), e.complete ? "complete" : "partial",
                e.latest ? "  latest" : "");
  if (entries.empty()) std::printf("no checkpoints in %s\n", cmd.paths[0].c_str());
  return 0;
}

// A tensor as the user names it: its global name (the /model tree) or its full dataset path.
bool names_tensor(const StoredTensor& t, const std::string& name) {
  const std::string path = stored_path(t);
  return (t.section == TensorSection::model && t.name == name) || path == name || path.substr(1) == name;
}

void print_values(const StoredTensor& t, const std::vector<float>& v) {
  // One line per row of the last dimension, so a matrix prints as a matrix.
  const int64_t row = t.shape.empty() ? 1 : t.shape.back();
  std::printf("values of %s %s:\n", stored_path(t).c_str(), shape_str(t.shape).c_str());
  for (size_t i = 0; i < v.size(); ++i)
    std::printf("%.9g%s", v[i], (int64_t(i + 1) % row == 0 || i + 1 == v.size()) ? "\n" : " ");
}

int ckpt_show(const CliCommand& cmd) {
  CheckpointReader reader(cmd.paths[0]);
  const CheckpointMeta& m = reader.meta();
  std::printf("checkpoint %s\n", reader.dir().c_str());
  std::printf("  format = %s\n  format_version = %lld\n  step = %lld\n  ep_size = %lld\n"
              "  experts_per_file = %lld\n  world_size = %lld\n  tokens_seen = %lld\n",
              std::string(kCheckpointFormat).c_str(), (long long)m.format_version, (long long)m.trainer.step,
              (long long)m.ep_size, (long long)m.experts_per_file, (long long)m.world_size,
              (long long)m.trainer.tokens_seen);
  const auto all = reader.list();
  std::printf("tensors: %zu\n", all.size());
  const StoredTensor* wanted = nullptr;
  std::vector<float> wanted_values;
  for (const StoredTensor& t : all) {
    const std::vector<float> v = load_stored(reader, t);
    const TensorStats s = tensor_stats(v.data(), int64_t(v.size()));
    std::printf("  %s %s float32 %s min=%.6g max=%.6g mean=%.6g l2=%.6g\n", stored_path(t).c_str(),
                shape_str(t.shape).c_str(), t.file.c_str(), s.min, s.max, s.mean, s.l2);
    if (!cmd.tensor.empty() && !wanted && names_tensor(t, cmd.tensor)) wanted = &t, wanted_values = v;
  }
  if (!cmd.tensor.empty()) {
    if (!wanted) throw DataError(reader.dir().string() + ": no tensor " + cmd.tensor + " (--tensor)");
    print_values(*wanted, wanted_values);
  }
  return 0;
}

int ckpt_diff(const CliCommand& cmd) {
  CheckpointReader a(cmd.paths[0]), b(cmd.paths[1]);
  auto model_tensors = [](CheckpointReader& r) {
    std::map<std::string, StoredTensor> out;
    for (StoredTensor& t : r.list())
      if (t.section == TensorSection::model) out.emplace(t.name, std::move(t));
    return out;
  };
  const auto ta = model_tensors(a), tb = model_tensors(b);
  std::printf("diff A=%s (ep %lld) B=%s (ep %lld)\n", a.dir().c_str(), (long long)a.meta().ep_size,
              b.dir().c_str(), (long long)b.meta().ep_size);
  size_t compared = 0, differing = 0;
  double worst = 0;
  for (const auto& [name, t] : ta) {
    auto it = tb.find(name);
    if (it == tb.end()) {
      std::printf("  only in A: %s\n", name.c_str());
      continue;
    }
    if (it->second.shape != t.shape) {
      std::printf("  %s shape differs: A %s, B %s\n", name.c_str(), shape_str(t.shape).c_str(),
                  shape_str(it->second.shape).c_str());
      ++differing;
      continue;
    }
    const auto va = load_stored(a, t), vb = load_stored(b, it->second);
    const TensorDiff d = tensor_diff(va.data(), vb.data(), int64_t(va.size()));
    std::printf("  %s max_abs=%.6g max_rel=%.6g\n", name.c_str(), d.max_abs, d.max_rel);
    ++compared;
    differing += d.max_abs > 0;
    worst = std::max(worst, d.max_abs);
  }
  for (const auto& [name, t] : tb)
    if (!ta.count(name)) std::printf("  only in B: %s\n", name.c_str());
  std::printf("diff: %zu tensors compared, %zu differ, max_abs=%.6g\n", compared, differing, worst);
  return 0;
}

}  // namespace

int ckpt_command(const CliCommand& cmd) {
  if (cmd.json) throw UsageError("ckpt: --json is not supported yet");
  switch (cmd.ckpt_action) {
    case CkptAction::ls: return ckpt_ls(cmd);
    case CkptAction::show: return ckpt_show(cmd);
    case CkptAction::verify: return ckpt_verify(cmd);
    case CkptAction::diff: return ckpt_diff(cmd);
    case CkptAction::reshard: return ckpt_reshard(cmd);
    case CkptAction::none: break;
  }
  throw UsageError("ckpt: missing action: ls, show, verify, diff or reshard");
}

}  // namespace sy
