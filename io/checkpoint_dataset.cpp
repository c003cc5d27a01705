// io/checkpoint_dataset.cpp — blockwise float32 dataset I/O with the xxh64 checksum.
#include "io/checkpoint_dataset.h"

#include <algorithm>
#include <bit>
#include <vector>

#include "io/background_hasher.h"
#include "io/hdf5_util.h"
#include "runtime/error.h"

namespace sy {
namespace {

static_assert(std::endian::native == std::endian::little, "checksums hash the native float32 bytes");

// One large pwrite/pread per block: HDF5 writing 1 MiB blocks measured half as
// fast as plain write() in bench/ckpt_throughput; 64 MiB blocks close most of that.
int64_t g_block_bytes = int64_t(64) << 20;

Shape shape_of(hid_t space, const std::string& where) {
  std::vector<hsize_t> dims(SY_H5(H5Sget_simple_extent_ndims(space), where));
  SY_H5(H5Sget_simple_extent_dims(space, dims.data(), nullptr), where);
  return Shape(dims.begin(), dims.end());
}

// Calls io(memory space, file space, first element, element count) for blocks
// of whole rows (dim 0) of about g_block_bytes; one call with H5S_ALL when the
// tensor fits in one block.
template <class Io>
void for_each_block(hid_t ds, const Shape& shape, const std::string& where, Io&& io) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  if (shape.empty() || n * static_cast<int64_t>(sizeof(float)) <= g_block_bytes) {
    io(H5S_ALL, H5S_ALL, 0, n);
    return;
  }
  const int64_t row = n / shape[0];
  const int64_t rows_per_block = std::max<int64_t>(1, g_block_bytes / (row * static_cast<int64_t>(sizeof(float))));
  h5::Space file_space(SY_H5(H5Dget_space(ds), where));
  std::vector<hsize_t> start(shape.size(), 0), count(shape.begin(), shape.end());
  for (int64_t r = 0; r < shape[0]; r += rows_per_block) {
    const int64_t rows = std::min(rows_per_block, shape[0] - r);
    start[0] = static_cast<hsize_t>(r);
    count[0] = static_cast<hsize_t>(rows);
    SY_H5(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), where);
    const hsize_t elements = static_cast<hsize_t>(rows * row);
    h5::Space mem_space(SY_H5(H5Screate_simple(1, &elements, nullptr), where));
    io(mem_space.get(), file_space.get(), r * row, rows * row);
  }
}

}  // namespace

int64_t checkpoint_block_bytes() { return g_block_bytes; }
void set_checkpoint_block_bytes(int64_t bytes) { g_block_bytes = std::max<int64_t>(bytes, sizeof(float)); }

void write_checked_dataset(hid_t file, const std::string& path, const Shape& shape, const float* data, hid_t lcpl,
                           hid_t dcpl, const std::string& file_where, BackgroundHasher& hasher) {
  const std::string w = file_where + ": dataset " + path;
  std::vector<hsize_t> dims;
  for (int64_t d : shape) {
    SY_ASSERT(d >= 0, "negative dimension in " + path);
    dims.push_back(static_cast<hsize_t>(d));
  }
  SY_ASSERT(shape_numel(shape) == 0 || data != nullptr, "no data for " + path);
  h5::Space space(dims.empty() ? SY_H5(H5Screate(H5S_SCALAR), w)
                               : SY_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), w));
  h5::Dataset ds(SY_H5(H5Dcreate2(file, path.c_str(), H5T_IEEE_F32LE, space, lcpl, dcpl, H5P_DEFAULT), w));
  // The checksum is computed on the hasher's thread while HDF5 writes the same
  // (unchanging) bytes.
  const auto ticket = hasher.submit(data, sizeof(float) * static_cast<size_t>(shape_numel(shape)));
  for_each_block(ds, shape, w, [&](hid_t mem, hid_t fsel, int64_t first, int64_t) {
    SY_H5(H5Dwrite(ds, H5T_NATIVE_FLOAT, mem, fsel, H5P_DEFAULT, data + first), w);
  });
  h5::write_attribute<uint64_t>(ds, "checksum", hasher.wait(ticket), w);
  SY_H5(ds.close(), w);
}

void read_checked_dataset(hid_t file, const std::string& path, const Shape& shape, float* data,
                          const std::string& file_where, ChecksumVerifier& verifier) {
  const std::string w = file_where + ": dataset " + path;
  if (!h5::exists(file, path)) throw DataError(file_where + ": no dataset " + path);
  h5::Dataset ds(SY_H5(H5Dopen2(file, path.c_str(), H5P_DEFAULT), w));
  {
    h5::Type type(SY_H5(H5Dget_type(ds), w));
    if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != sizeof(float))
      throw DataError(w + ": not stored as float32");
  }
  {
    h5::Space space(SY_H5(H5Dget_space(ds), w));
    Shape stored = shape_of(space, w);
    if (stored != shape)
      throw DataError(w + ": shape " + shape_str(stored) + " in the checkpoint, " + shape_str(shape) + " requested");
  }
  SY_ASSERT(shape_numel(shape) == 0 || data != nullptr, "no buffer for " + path);
  if (!h5::has_attribute(ds, "checksum")) throw DataError(w + ": no checksum attribute");
  const uint64_t stored_sum = h5::read_attribute<uint64_t>(ds, "checksum", w);
  for_each_block(ds, shape, w, [&](hid_t mem, hid_t fsel, int64_t first, int64_t) {
    SY_H5(H5Dread(ds, H5T_NATIVE_FLOAT, mem, fsel, H5P_DEFAULT, data + first), w);
  });
  verifier.expect(data, sizeof(float) * static_cast<size_t>(shape_numel(shape)), stored_sum, w);
}

Shape stored_shape(hid_t file, const std::string& path, const std::string& file_where) {
  const std::string w = file_where + ": dataset " + path;
  h5::Dataset ds(SY_H5(H5Dopen2(file, path.c_str(), H5P_DEFAULT), w));
  h5::Space space(SY_H5(H5Dget_space(ds), w));
  return shape_of(space, w);
}

}  // namespace sy
