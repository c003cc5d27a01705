// io/checkpoint_inspect.cpp — scanning a ckpt.dir, tensor statistics and differences for `switchyard ckpt`.
#include "io/checkpoint_inspect.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "runtime/error.h"

namespace sy {

namespace fs = std::filesystem;

namespace {
uint64_t tree_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// The directory name `latest` holds, or "" (ls shows what is there; it does not judge `latest`).
std::string latest_name(const fs::path& dir) {
  std::ifstream in(dir / kLatestFileName);
  std::string line;
  if (in) std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}
}  // namespace

std::vector<CheckpointDirEntry> scan_checkpoint_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir.string() + ": not a directory");
  const std::string latest = latest_name(dir);
  std::vector<CheckpointDirEntry> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    CheckpointDirEntry c;
    c.name = e.path().filename().string();
    std::string base = c.name;
    const std::string suffix = ".partial";
    const bool partial = base.size() > suffix.size() && base.ends_with(suffix);
    if (partial) base.resize(base.size() - suffix.size());
    const auto step = parse_step_dir_name(base);
    if (!step) continue;
    c.step = *step;
    c.complete = !partial;
    c.latest = c.name == latest;
    c.bytes = tree_bytes(e.path());
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.step != b.step ? a.step < b.step : a.complete > b.complete;
  });
  return out;
}

std::string human_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

TensorStats tensor_stats(const float* data, int64_t n) {
  TensorStats s;
  if (n == 0) return s;
  s.min = s.max = data[0];
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = data[i];
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    sq += v * v;
  }
  s.mean = sum / static_cast<double>(n);
  s.l2 = std::sqrt(sq);
  return s;
}

TensorDiff tensor_diff(const float* a, const float* b, int64_t n) {
  TensorDiff d;
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i], diff = std::fabs(x - y);
    const double scale = std::max(std::fabs(x), std::fabs(y));
    d.max_abs = std::max(d.max_abs, diff);
    if (scale > 0) d.max_rel = std::max(d.max_rel, diff / scale);
  }
  return d;
}

std::vector<float> load_stored(CheckpointReader& reader, const StoredTensor& t) {
  std::vector<float> v(static_cast<size_t>(shape_numel(t.shape)));
  reader.load({NamedTensor{t.name, t.shape, v.data(), t.expert}}, t.section);
  return v;
}

std::string stored_path(const StoredTensor& t) { return std::string(section_group(t.section)) + "/" + t.name; }

}  // namespace sy
