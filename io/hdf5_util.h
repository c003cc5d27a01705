// io/hdf5_util.h — RAII handles for HDF5 ids, the one HDF5 checking helper, and typed attributes.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::h5 {

// Owns one hid_t and closes it with the H5*close that matches its kind.  Never
// wrap predefined ids (H5T_NATIVE_FLOAT, H5P_DEFAULT): they must not be closed.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      close();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Handle() { close(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: lets handles go straight into H5 calls
  bool valid() const { return id_ >= 0; }
  // Closes now and reports the status: closing a file flushes it, so a writer
  // must check this instead of relying on the destructor (which ignores it).
  herr_t close() {
    herr_t status = id_ >= 0 ? Close(id_) : 0;
    id_ = H5I_INVALID_HID;
    return status;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Space = Handle<H5Sclose>;
using Type = Handle<H5Tclose>;
using Attribute = Handle<H5Aclose>;
using PropList = Handle<H5Pclose>;

// The most specific message on HDF5's error stack (e.g. "truncated file: eof = ..."),
// then clears the stack.  Empty when HDF5 recorded nothing.
std::string last_error();

// Throws h5check's DataError; out of line so the template stays small.
[[noreturn]] void fail(std::string_view call, std::string_view where, std::source_location loc);

// Turns HDF5's automatic error-stack printing off (once per process) so that a
// failure reaches the user as our one-line DataError, not a page of trace.
void silence_errors();

// File access: sec2 driver, 1.8 object format or newer (compact/dense groups and
// attributes larger than 64 KiB), no flock (our save protocol never has a
// reader and a writer on the same file, and flock fails on some parallel file
// systems).
File create_file(const std::filesystem::path& path);
File open_file_read(const std::filesystem::path& path);

// True when every component of `path` (absolute, "/a/b/c") exists below `loc`.
bool exists(hid_t loc, const std::string& path);

// Attributes.  T is int64_t, uint64_t or double; a scalar is stored with a scalar
// dataspace, an array with a 1-D one (a null dataspace when empty).  Readers
// convert between integer widths and check the class (integer vs float).
bool has_attribute(hid_t obj, const char* name);
template <class T>
void write_attribute(hid_t obj, const char* name, T value, std::string_view where);
template <class T>
void write_attribute_array(hid_t obj, const char* name, const std::vector<T>& values, std::string_view where);
void write_string_attribute(hid_t obj, const char* name, std::string_view value, std::string_view where);
template <class T>
T read_attribute(hid_t obj, const char* name, std::string_view where);
template <class T>
std::vector<T> read_attribute_array(hid_t obj, const char* name, std::string_view where);
// Variable- or fixed-length strings (h5py writes either).
std::string read_string_attribute(hid_t obj, const char* name, std::string_view where);
// H5T_INTEGER or H5T_FLOAT (or another class) of an attribute.
H5T_class_t attribute_class(hid_t obj, const char* name, std::string_view where);
std::vector<std::string> attribute_names(hid_t obj, std::string_view where);

}  // namespace sy::h5

namespace sy {

// The one checking helper for HDF5 calls: a negative status throws DataError
// "<where>: <call> failed: <HDF5's reason> (<source>:<line>)", where `where`
// names the file (and dataset).  Returns the status so ids can be wrapped inline.
template <class T>
T h5check(T status, std::string_view call, std::string_view where,
          std::source_location loc = std::source_location::current()) {
  if (status < 0) h5::fail(call, where, loc);
  return status;
}

}  // namespace sy

// h5check with the call's source text as its name.
#define SY_H5(expr, where) ::sy::h5check((expr), #expr, (where))
