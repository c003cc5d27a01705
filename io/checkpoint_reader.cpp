// io/checkpoint_reader.cpp — resolving, validating and reading checkpoint files.
#include "io/checkpoint_reader.h"

#include <algorithm>
#include <fstream>
#include <map>

#include "io/checkpoint_dataset.h"
#include "io/hdf5_util.h"
#include "runtime/error.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

// format and format_version, the two attributes that say "this is ours".
void check_format(hid_t f, const std::string& where) {
  if (!h5::has_attribute(f, "format"))
    throw DataError(where + ": not a switchyard checkpoint file (no 'format' attribute)");
  std::string format = h5::read_string_attribute(f, "format", where);
  if (format != kCheckpointFormat)
    throw DataError(where + ": not a switchyard checkpoint file (format = '" + format + "', expected '" +
                    std::string(kCheckpointFormat) + "')");
  int64_t version = h5::read_attribute<int64_t>(f, "format_version", where);
  if (version < 1 || version > kCheckpointFormatVersion)
    throw DataError(where + ": format_version " + std::to_string(version) + " is not supported (this build reads 1.." +
                    std::to_string(kCheckpointFormatVersion) + ")");
}

CheckpointMeta read_meta(hid_t f, const std::string& where) {
  check_format(f, where);
  CheckpointMeta m;
  TrainerState& t = m.trainer;
  m.format_version = h5::read_attribute<int64_t>(f, "format_version", where);
  m.ep_size = h5::read_attribute<int64_t>(f, "ep_size", where);
  m.experts_per_file = h5::read_attribute<int64_t>(f, "experts_per_file", where);
  m.world_size = h5::read_attribute<int64_t>(f, "world_size", where);
  m.config = h5::read_string_attribute(f, "config", where);
  t.step = h5::read_attribute<int64_t>(f, "step", where);
  t.tokens_seen = h5::read_attribute<int64_t>(f, "tokens_seen", where);
  t.optimizer_step = h5::read_attribute<int64_t>(f, "optimizer_step", where);
  t.lr_schedule_step = h5::read_attribute<int64_t>(f, "lr_schedule_step", where);
  t.data_cursor = h5::read_attribute<int64_t>(f, "data_cursor", where);
  t.rng_seed = h5::read_attribute<uint64_t>(f, "rng_seed", where);
  t.rng_counters = h5::read_attribute_array<uint64_t>(f, "rng_counters", where);
  if (m.ep_size < 1 || m.experts_per_file < 0 || m.world_size < 1 || t.step < 0)
    throw DataError(where + ": impossible layout attributes (ep_size " + std::to_string(m.ep_size) +
                    ", experts_per_file " + std::to_string(m.experts_per_file) + ", world_size " +
                    std::to_string(m.world_size) + ", step " + std::to_string(t.step) + ")");
  if (h5::exists(f, "/trainer")) {
    std::string gw = where + ": group /trainer";
    h5::Group g(SY_H5(H5Gopen2(f, "/trainer", H5P_DEFAULT), gw));
    for (const std::string& name : h5::attribute_names(g, gw)) {
      H5T_class_t cls = h5::attribute_class(g, name.c_str(), gw);
      if (cls == H5T_INTEGER)
        t.extra[name] = h5::read_attribute<int64_t>(g, name.c_str(), gw);
      else if (cls == H5T_FLOAT)
        t.extra[name] = h5::read_attribute<double>(g, name.c_str(), gw);
      else
        throw DataError(gw + ": attribute " + name + " is neither an integer nor a float");
    }
  }
  return m;
}

// Names of the datasets below `group` (relative to it), or none when it is absent.
std::vector<std::string> datasets_below(hid_t file, const std::string& group, const std::string& where) {
  std::vector<std::string> links;
  if (!h5::exists(file, group)) return links;
  h5::Group g(SY_H5(H5Gopen2(file, group.c_str(), H5P_DEFAULT), where));
  // Collect first, inspect after: nothing may throw through HDF5's C callback.
  auto collect = [](hid_t, const char* name, const H5L_info_t* info, void* out) -> herr_t {
    if (info->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  };
  SY_H5(H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, collect, &links), where + ": group " + group);
  std::vector<std::string> datasets;
  for (const std::string& name : links) {
    hid_t obj = SY_H5(H5Oopen(g, name.c_str(), H5P_DEFAULT), where + ": " + group + "/" + name);
    H5I_type_t type = H5Iget_type(obj);
    H5Oclose(obj);
    if (type == H5I_DATASET) datasets.push_back(name);
  }
  return datasets;
}

constexpr TensorSection kSections[] = {TensorSection::model, TensorSection::exp_avg, TensorSection::exp_avg_sq};

}  // namespace

struct CheckpointReader::Files {
  h5::File shared;
  std::string shared_where;
  std::map<int64_t, h5::File> ranks;

  // model-rank-N.h5, opened and checked against the shared file on first use.
  hid_t rank(int64_t n, const fs::path& dir, const CheckpointMeta& meta) {
    if (auto it = ranks.find(n); it != ranks.end()) return it->second;
    const int64_t L = meta.experts_per_file;
    std::string where = (dir / rank_file_name(n)).string();
    h5::File f = h5::open_file_read(dir / rank_file_name(n));
    check_format(f, where);
    auto expect = [&](const char* attr, int64_t want) {
      int64_t got = h5::read_attribute<int64_t>(f, attr, where);
      if (got != want)
        throw DataError(where + ": attribute " + attr + " = " + std::to_string(got) + " but " +
                        std::string(kSharedFileName) + " says " + std::to_string(want) +
                        " (files from different checkpoints?)");
    };
    expect("step", meta.trainer.step);
    expect("ep_size", meta.ep_size);
    expect("experts_per_file", L);
    std::vector<int64_t> ids = h5::read_attribute_array<int64_t>(f, "global_expert_ids", where);
    bool ok = static_cast<int64_t>(ids.size()) == L;
    for (int64_t j = 0; ok && j < L; ++j) ok = ids[j] == n * L + j;
    if (!ok)
      throw DataError(where + ": global_expert_ids do not list experts [" + std::to_string(n * L) + ", " +
                      std::to_string((n + 1) * L) + ") (renamed file?)");
    return ranks.emplace(n, std::move(f)).first->second;
  }
};

std::optional<fs::path> latest_checkpoint(const fs::path& ckpt_dir) {
  fs::path latest = ckpt_dir / kLatestFileName;
  std::error_code ec;
  if (!fs::exists(latest, ec)) return std::nullopt;
  std::ifstream in(latest);
  std::string line;
  if (!in || !std::getline(in, line)) throw DataError(latest.string() + ": cannot read it");
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (!parse_step_dir_name(line))
    throw DataError(latest.string() + ": expected one line like step-00000200, found '" + line + "'");
  fs::path dir = ckpt_dir / line;
  if (!fs::is_directory(dir, ec)) throw DataError(latest.string() + ": names " + line + ", which does not exist");
  return dir;
}

std::vector<int64_t> list_checkpoints(const fs::path& ckpt_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(ckpt_dir, ec))
    if (auto step = parse_step_dir_name(entry.path().filename().string()); step && entry.is_directory(ec))
      steps.push_back(*step);
  std::sort(steps.begin(), steps.end());
  return steps;
}

fs::path resolve_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw DataError(path.string() + ": no such checkpoint or checkpoint directory");
  if (fs::is_directory(path, ec) && fs::exists(path / kSharedFileName, ec)) return path;
  if (fs::is_directory(path, ec))
    if (auto latest = latest_checkpoint(path)) return *latest;
  throw DataError(path.string() + ": neither a checkpoint (no " + std::string(kSharedFileName) +
                  ") nor a checkpoint directory (no " + std::string(kLatestFileName) + ")");
}

CheckpointReader::CheckpointReader(const fs::path& path) : dir_(resolve_checkpoint(path)), files_(new Files) {
  files_->shared_where = (dir_ / kSharedFileName).string();
  files_->shared = h5::open_file_read(dir_ / kSharedFileName);
  meta_ = read_meta(files_->shared, files_->shared_where);
}

CheckpointReader::~CheckpointReader() = default;
CheckpointReader::CheckpointReader(CheckpointReader&&) noexcept = default;
CheckpointReader& CheckpointReader::operator=(CheckpointReader&&) noexcept = default;

void CheckpointReader::load(const std::vector<NamedTensor>& wanted, TensorSection section) {
  const int64_t L = meta_.experts_per_file;
  ChecksumVerifier verifier;  // each dataset is hashed while the next one is read
  for (const NamedTensor& t : wanted) {
    validate_tensor_name(t.name);
    if (t.expert < 0) {
      read_checked_dataset(files_->shared, std::string(section_group(section)) + "/" + t.name, t.shape, t.data,
                           files_->shared_where, verifier);
      continue;
    }
    if (expert_id_in_name(t.name) != t.expert)
      throw DataError("tensor " + t.name + " is requested as expert " + std::to_string(t.expert) +
                      " but its name carries another id");
    if (t.expert >= meta_.num_experts())
      throw DataError(dir_.string() + ": expert " + std::to_string(t.expert) + " requested (" + t.name +
                      ") but the checkpoint holds " + std::to_string(meta_.num_experts()) + " experts");
    ExpertLocation loc = locate_expert(t.expert, L);
    hid_t file = files_->rank(loc.file, dir_, meta_);
    read_checked_dataset(file, std::string(section_group(section)) + "/" + local_expert_name(t.name, L), t.shape,
                         t.data, (dir_ / rank_file_name(loc.file)).string(), verifier);
  }
  verifier.finish();
}

std::vector<StoredTensor> CheckpointReader::list() {
  std::vector<StoredTensor> out;
  auto add_file = [&](hid_t f, const std::string& file_name, int64_t file_index) {
    std::string where = (dir_ / file_name).string();
    for (TensorSection s : kSections) {
      std::string group(section_group(s));
      for (const std::string& local : datasets_below(f, group, where)) {
        if (file_index >= 0 && expert_id_in_name(local) < 0)
          throw DataError(where + ": dataset " + group + "/" + local + " in a rank file names no expert");
        StoredTensor t;
        t.name = file_index >= 0 ? global_expert_name(local, file_index, meta_.experts_per_file) : local;
        t.shape = stored_shape(f, group + "/" + local, where);
        t.expert = file_index >= 0 ? static_cast<int>(expert_id_in_name(t.name)) : -1;
        t.section = s;
        t.file = file_name;
        out.push_back(std::move(t));
      }
    }
  };
  add_file(files_->shared, std::string(kSharedFileName), -1);
  if (meta_.experts_per_file > 0)
    for (int64_t n = 0; n < meta_.ep_size; ++n) add_file(files_->rank(n, dir_, meta_), rank_file_name(n), n);
  return out;
}

size_t CheckpointReader::verify() {
  const std::vector<StoredTensor> all = list();
  // Datasets of one section go to load() in runs of about 256 MiB (or one larger
  // dataset): its checksums then overlap the reads, and memory stays bounded.
  constexpr int64_t kBatchElements = (int64_t(256) << 20) / int64_t(sizeof(float));
  std::vector<float> scratch;
  std::vector<NamedTensor> batch;
  for (size_t i = 0; i < all.size();) {
    const TensorSection section = all[i].section;
    int64_t elements = 0;
    size_t j = i;
    for (; j < all.size() && all[j].section == section; ++j) {
      const int64_t n = shape_numel(all[j].shape);
      if (j > i && elements + n > kBatchElements) break;
      elements += n;
    }
    scratch.resize(static_cast<size_t>(elements));
    batch.clear();
    int64_t offset = 0;
    for (size_t k = i; k < j; ++k) {
      batch.push_back(NamedTensor{all[k].name, all[k].shape, scratch.data() + offset, all[k].expert});
      offset += shape_numel(all[k].shape);
    }
    load(batch, section);
    i = j;
  }
  return all.size();
}

CheckpointMeta read_checkpoint_meta(const fs::path& path) { return CheckpointReader(path).meta(); }

void load_tensors(const fs::path& path, const std::vector<NamedTensor>& wanted, TensorSection section) {
  CheckpointReader(path).load(wanted, section);
}

}  // namespace sy
