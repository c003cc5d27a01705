// io/checkpoint_dataset.h — one tensor on disk: a float32 dataset carrying the xxh64
// checksum of its bytes, written and read in large blocks.
#pragma once
#include <hdf5.h>

#include <string>

#include "io/background_hasher.h"
#include "runtime/tensor.h"

namespace sy {

// Creates `path` in `file` as float32 little-endian with `shape` (a scalar
// dataspace for shape {}), using the link- and dataset-creation lists given
// (intermediate groups, contiguous layout), writes `data` and sets the uint64
// attribute `checksum`.  Data goes out in blocks of whole rows of about
// checkpoint_block_bytes(); `hasher` computes the checksum meanwhile.
void write_checked_dataset(hid_t file, const std::string& path, const Shape& shape, const float* data, hid_t lcpl,
                           hid_t dcpl, const std::string& file_where, BackgroundHasher& hasher);

// Reads `path` into `data` after checking that it exists, is float32 and has
// `shape`, and hands its bytes and stored checksum to `verifier`: the data is
// verified only once verifier.finish() returns.  DataError
// "<file>: dataset <path>: <why>".
void read_checked_dataset(hid_t file, const std::string& path, const Shape& shape, float* data,
                          const std::string& file_where, ChecksumVerifier& verifier);

// Bytes per HDF5 read or write call (64 MiB; whole rows, at least one).  Tests
// lower it to exercise the multi-block path on small tensors.
int64_t checkpoint_block_bytes();
void set_checkpoint_block_bytes(int64_t bytes);

// The stored shape of dataset `path`.
Shape stored_shape(hid_t file, const std::string& path, const std::string& file_where);

}  // namespace sy
