// io/checkpoint_writer.cpp — HDF5 writing of model-shared.h5 / model-rank-N.h5 and the
// collective save sequence.
#include "io/checkpoint_writer.h"

#include <exception>

#include "io/checkpoint_commit.h"
#include "io/checkpoint_dataset.h"
#include "io/hdf5_util.h"
#include "runtime/error.h"

namespace sy {
namespace {

// One checkpoint file being written: the file plus the property lists every
// dataset shares.
class FileWriter {
 public:
  explicit FileWriter(std::filesystem::path path)
      : path_(std::move(path)), where_(path_.string()), file_(h5::create_file(path_)) {
    lcpl_ = h5::PropList(SY_H5(H5Pcreate(H5P_LINK_CREATE), where_));
    SY_H5(H5Pset_create_intermediate_group(lcpl_, 1), where_);
    SY_H5(H5Pset_char_encoding(lcpl_, H5T_CSET_UTF8), where_);
    // Contiguous and never pre-filled: the data goes to disk in one write.
    dcpl_ = h5::PropList(SY_H5(H5Pcreate(H5P_DATASET_CREATE), where_));
    SY_H5(H5Pset_layout(dcpl_, H5D_CONTIGUOUS), where_);
    SY_H5(H5Pset_fill_time(dcpl_, H5D_FILL_TIME_NEVER), where_);
  }

  hid_t file() const { return file_; }
  const std::string& where() const { return where_; }

  void write(const std::string& dataset, const Shape& shape, const float* data) {
    write_checked_dataset(file_, dataset, shape, data, lcpl_, dcpl_, where_, hasher_);
  }

  // Closing flushes HDF5's metadata; only then is the file complete to fsync.
  void finish() {
    SY_H5(file_.close(), where_);
    fsync_path(path_);
  }

 private:
  std::filesystem::path path_;
  std::string where_;
  h5::File file_;
  h5::PropList lcpl_, dcpl_;
  BackgroundHasher hasher_;
};

void write_common_attributes(const FileWriter& w, const CheckpointMeta& meta) {
  hid_t f = w.file();
  h5::write_string_attribute(f, "format", kCheckpointFormat, w.where());
  h5::write_attribute<int64_t>(f, "format_version", kCheckpointFormatVersion, w.where());
  h5::write_string_attribute(f, "checksum_algorithm", kChecksumAlgorithm, w.where());
  h5::write_attribute<int64_t>(f, "step", meta.trainer.step, w.where());
  h5::write_attribute<int64_t>(f, "ep_size", meta.ep_size, w.where());
  h5::write_attribute<int64_t>(f, "experts_per_file", meta.experts_per_file, w.where());
}

struct Section {
  TensorSection section;
  const std::vector<NamedTensor>* tensors;
};
std::vector<Section> sections(const CheckpointTensors& t) {
  return {{TensorSection::model, &t.model},
          {TensorSection::exp_avg, &t.exp_avg},
          {TensorSection::exp_avg_sq, &t.exp_avg_sq}};
}

std::string dataset_path(TensorSection s, const std::string& name) {
  return std::string(section_group(s)) + "/" + name;
}

void check_meta(const CheckpointMeta& meta) {
  SY_ASSERT(meta.ep_size >= 1 && meta.experts_per_file >= 0 && meta.world_size >= 1 && meta.trainer.step >= 0,
            "bad checkpoint layout");
}

void check_tensor(const NamedTensor& t) {
  validate_tensor_name(t.name);
  if (t.expert >= 0)
    SY_ASSERT(expert_id_in_name(t.name) == t.expert,
              "tensor " + t.name + " is tagged expert " + std::to_string(t.expert) + " but its name says otherwise");
}

}  // namespace

void write_shared_file(const std::filesystem::path& partial_dir, const CheckpointMeta& meta,
                       const CheckpointTensors& tensors) {
  check_meta(meta);
  FileWriter w(partial_dir / kSharedFileName);
  write_common_attributes(w, meta);
  hid_t f = w.file();
  const TrainerState& t = meta.trainer;
  h5::write_attribute<int64_t>(f, "world_size", meta.world_size, w.where());
  h5::write_attribute<int64_t>(f, "tokens_seen", t.tokens_seen, w.where());
  h5::write_string_attribute(f, "config", meta.config, w.where());
  h5::write_attribute<int64_t>(f, "optimizer_step", t.optimizer_step, w.where());
  h5::write_attribute<int64_t>(f, "lr_schedule_step", t.lr_schedule_step, w.where());
  h5::write_attribute<int64_t>(f, "data_cursor", t.data_cursor, w.where());
  h5::write_attribute<uint64_t>(f, "rng_seed", t.rng_seed, w.where());
  h5::write_attribute_array<uint64_t>(f, "rng_counters", t.rng_counters, w.where());
  {
    std::string gw = w.where() + ": group /trainer";
    h5::Group g(SY_H5(H5Gcreate2(f, "/trainer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), gw));
    for (const auto& [name, value] : t.extra) {
      if (const int64_t* i = std::get_if<int64_t>(&value))
        h5::write_attribute<int64_t>(g, name.c_str(), *i, gw);
      else
        h5::write_attribute<double>(g, name.c_str(), std::get<double>(value), gw);
    }
  }
  for (const Section& s : sections(tensors))
    for (const NamedTensor& nt : *s.tensors) {
      check_tensor(nt);
      if (nt.expert < 0) w.write(dataset_path(s.section, nt.name), nt.shape, nt.data);
    }
  w.finish();
}

void write_rank_file(const std::filesystem::path& partial_dir, int64_t file_index, const CheckpointMeta& meta,
                     const CheckpointTensors& tensors) {
  check_meta(meta);
  const int64_t L = meta.experts_per_file;
  SY_ASSERT(L > 0 && file_index >= 0 && file_index < meta.ep_size, "rank file index out of range");
  FileWriter w(partial_dir / rank_file_name(file_index));
  write_common_attributes(w, meta);
  std::vector<int64_t> ids(L);
  for (int64_t j = 0; j < L; ++j) ids[j] = file_index * L + j;
  h5::write_attribute_array<int64_t>(w.file(), "global_expert_ids", ids, w.where());

  std::vector<bool> has_parameters(L, false);
  for (const Section& s : sections(tensors))
    for (const NamedTensor& nt : *s.tensors) {
      check_tensor(nt);
      if (nt.expert < 0 || nt.expert / L != file_index) continue;
      if (s.section == TensorSection::model) has_parameters[nt.expert % L] = true;
      w.write(dataset_path(s.section, local_expert_name(nt.name, L)), nt.shape, nt.data);
    }
  for (int64_t j = 0; j < L; ++j)
    SY_ASSERT(has_parameters[j], w.where() + ": no parameters given for expert " + std::to_string(ids[j]));
  w.finish();
}

SaveRole SaveRole::for_rank(int world_rank, int ep_size) {
  SaveRole role;
  role.coordinator = world_rank == 0;
  role.rank_file = world_rank < ep_size ? world_rank : -1;
  return role;
}

std::filesystem::path save_checkpoint(const std::filesystem::path& ckpt_dir, const CheckpointMeta& meta,
                                      const CheckpointTensors& tensors, const SaveRole& role, int keep,
                                      const AllRanksOk& all_ok) {
  const int64_t step = meta.trainer.step;
  // Every rank takes part in every all_ok, even after a local failure, so that
  // no rank is left waiting; then all of them throw.
  auto phase = [&](const std::function<void()>& work) {
    std::exception_ptr error;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    bool everyone_ok = all_ok(error == nullptr);
    if (error) std::rethrow_exception(error);
    if (!everyone_ok)
      throw DataError((ckpt_dir / partial_dir_name(step)).string() + ": checkpoint save failed on another rank");
  };
  phase([&] {
    if (role.coordinator) begin_checkpoint(ckpt_dir, step);
  });
  const std::filesystem::path partial = ckpt_dir / partial_dir_name(step);
  phase([&] {
    if (role.coordinator) write_shared_file(partial, meta, tensors);
    if (role.rank_file >= 0 && meta.experts_per_file > 0) write_rank_file(partial, role.rank_file, meta, tensors);
  });
  if (role.coordinator) return commit_checkpoint(ckpt_dir, step, keep);
  return ckpt_dir / step_dir_name(step);
}

}  // namespace sy
