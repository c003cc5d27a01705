// io/hdf5_util.cpp — HDF5 error reporting, file opening and typed attribute access.
#include "io/hdf5_util.h"

#include <fcntl.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <type_traits>

#include "runtime/error.h"

namespace sy::h5 {
namespace {

template <class T>
hid_t native_type();
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}

// On-disk types are fixed little-endian so files are the same on every host.
template <class T>
hid_t file_type();
template <>
hid_t file_type<int64_t>() {
  return H5T_STD_I64LE;
}
template <>
hid_t file_type<uint64_t>() {
  return H5T_STD_U64LE;
}
template <>
hid_t file_type<double>() {
  return H5T_IEEE_F64LE;
}

std::string attr_where(std::string_view where, const char* name) { return std::string(where) + ": attribute " + name; }

Attribute open_attribute(hid_t obj, const char* name, std::string_view where) {
  if (!has_attribute(obj, name)) throw DataError(std::string(where) + ": missing attribute '" + name + "'");
  return Attribute(SY_H5(H5Aopen(obj, name, H5P_DEFAULT), attr_where(where, name)));
}

PropList file_access() {
  silence_errors();
  PropList fapl(SY_H5(H5Pcreate(H5P_FILE_ACCESS), "file access list"));
  SY_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "file access list");
  SY_H5(H5Pset_file_locking(fapl, false, true), "file access list");
  return fapl;
}

}  // namespace

std::string last_error() {
  std::string innermost;
  auto visit = [](unsigned, const H5E_error2_t* err, void* out) -> herr_t {
    auto* s = static_cast<std::string*>(out);
    if (s->empty() && err->desc && *err->desc) *s = err->desc;
    return 0;
  };
  // Upward = from the most specific frame to the API call.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, visit, &innermost);
  H5Eclear2(H5E_DEFAULT);
  return innermost;
}

void fail(std::string_view call, std::string_view where, std::source_location loc) {
  std::ostringstream os;
  os << where << ": " << call << " failed";
  std::string reason = last_error();
  if (!reason.empty()) os << ": " << reason;
  os << " (" << loc.file_name() << ":" << loc.line() << ")";
  throw DataError(os.str());
}

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

File create_file(const std::filesystem::path& path) {
  PropList fapl = file_access();
  return File(SY_H5(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), path.string()));
}

File open_file_read(const std::filesystem::path& path) {
  PropList fapl = file_access();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw DataError(path.string() + ": checkpoint file is missing");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (id < 0) {
    std::string reason = last_error();
    throw DataError(path.string() + ": cannot open as HDF5 (corrupt or truncated file?)" +
                    (reason.empty() ? "" : ": " + reason));
  }
  File file(id);
  // Checkpoints are read front to back in large pieces: a larger kernel
  // readahead window keeps the disk busy while we copy and hash (bench/ckpt_throughput:
  // load ÷ fread 0.78–0.86 without the hint, 0.88–1.13 with it).  Only a hint.
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) >= 0 && handle != nullptr)
    (void)::posix_fadvise(*static_cast<int*>(handle), 0, 0, POSIX_FADV_SEQUENTIAL);
  return file;
}

bool exists(hid_t loc, const std::string& path) {
  // H5Lexists fails (instead of answering false) when an intermediate group is
  // missing, so walk the path one component at a time.
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

bool has_attribute(hid_t obj, const char* name) {
  htri_t r = H5Aexists(obj, name);
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

template <class T>
void write_attribute(hid_t obj, const char* name, T value, std::string_view where) {
  std::string w = attr_where(where, name);
  Space space(SY_H5(H5Screate(H5S_SCALAR), w));
  Attribute attr(SY_H5(H5Acreate2(obj, name, file_type<T>(), space, H5P_DEFAULT, H5P_DEFAULT), w));
  SY_H5(H5Awrite(attr, native_type<T>(), &value), w);
}

template <class T>
void write_attribute_array(hid_t obj, const char* name, const std::vector<T>& values, std::string_view where) {
  std::string w = attr_where(where, name);
  hsize_t n = values.size();
  Space space(values.empty() ? SY_H5(H5Screate(H5S_NULL), w) : SY_H5(H5Screate_simple(1, &n, nullptr), w));
  Attribute attr(SY_H5(H5Acreate2(obj, name, file_type<T>(), space, H5P_DEFAULT, H5P_DEFAULT), w));
  if (!values.empty()) SY_H5(H5Awrite(attr, native_type<T>(), values.data()), w);
}

void write_string_attribute(hid_t obj, const char* name, std::string_view value, std::string_view where) {
  // Fixed-length UTF-8 (NUL-padded), not variable-length: a vlen string lives in
  // HDF5's global heap, and Debian's libhdf5 1.10 loops forever in H5HG_read on
  // some damaged heaps (found by tests/unit/checkpoint_fuzz_test.cpp).  h5py
  // returns these as bytes; readers here accept both kinds.
  std::string w = attr_where(where, name);
  Type type(SY_H5(H5Tcopy(H5T_C_S1), w));
  SY_H5(H5Tset_size(type, std::max<size_t>(value.size(), 1)), w);  // HDF5 refuses size 0
  SY_H5(H5Tset_strpad(type, H5T_STR_NULLPAD), w);
  SY_H5(H5Tset_cset(type, H5T_CSET_UTF8), w);
  Space space(SY_H5(H5Screate(H5S_SCALAR), w));
  Attribute attr(SY_H5(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), w));
  std::string padded(value);
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  SY_H5(H5Awrite(attr, type, padded.data()), w);
}

H5T_class_t attribute_class(hid_t obj, const char* name, std::string_view where) {
  Attribute attr = open_attribute(obj, name, where);
  Type type(SY_H5(H5Aget_type(attr), attr_where(where, name)));
  return H5Tget_class(type);
}

template <class T>
std::vector<T> read_attribute_array(hid_t obj, const char* name, std::string_view where) {
  std::string w = attr_where(where, name);
  Attribute attr = open_attribute(obj, name, where);
  Type type(SY_H5(H5Aget_type(attr), w));
  H5T_class_t cls = H5Tget_class(type);
  bool want_int = !std::is_floating_point_v<T>;
  if (want_int ? cls != H5T_INTEGER : (cls != H5T_FLOAT && cls != H5T_INTEGER))
    throw DataError(w + ": expected " + (want_int ? "an integer" : "a number"));
  Space space(SY_H5(H5Aget_space(attr), w));
  hssize_t n = SY_H5(H5Sget_simple_extent_npoints(space), w);
  std::vector<T> values(static_cast<size_t>(n));
  if (n > 0) SY_H5(H5Aread(attr, native_type<T>(), values.data()), w);
  return values;
}

template <class T>
T read_attribute(hid_t obj, const char* name, std::string_view where) {
  std::vector<T> v = read_attribute_array<T>(obj, name, where);
  if (v.size() != 1)
    throw DataError(attr_where(where, name) + ": expected one value, found " + std::to_string(v.size()));
  return v[0];
}

std::string read_string_attribute(hid_t obj, const char* name, std::string_view where) {
  std::string w = attr_where(where, name);
  Attribute attr = open_attribute(obj, name, where);
  Type type(SY_H5(H5Aget_type(attr), w));
  if (H5Tget_class(type) != H5T_STRING) throw DataError(w + ": expected a string");
  Space space(SY_H5(H5Aget_space(attr), w));
  if (SY_H5(H5Sget_simple_extent_npoints(space), w) != 1) throw DataError(w + ": expected one string");
  if (SY_H5(H5Tis_variable_str(type), w) > 0) {
    Type mem(SY_H5(H5Tcopy(H5T_C_S1), w));
    SY_H5(H5Tset_size(mem, H5T_VARIABLE), w);
    SY_H5(H5Tset_cset(mem, H5Tget_cset(type)), w);
    char* p = nullptr;
    SY_H5(H5Aread(attr, mem, &p), w);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  size_t size = H5Tget_size(type);
  std::string s(size, '\0');
  Type mem(SY_H5(H5Tcopy(type), w));
  SY_H5(H5Aread(attr, mem, s.data()), w);
  s.resize(s.find_last_not_of('\0') + 1);  // strip NUL padding (npos + 1 == 0 clears all-NUL)
  return s;
}

std::vector<std::string> attribute_names(hid_t obj, std::string_view where) {
  std::vector<std::string> names;
  auto visit = [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  };
  SY_H5(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, nullptr, visit, &names), std::string(where));
  return names;
}

#define SY_H5_ATTR_INSTANTIATE(T)                                                                      \
  template void write_attribute<T>(hid_t, const char*, T, std::string_view);                           \
  template void write_attribute_array<T>(hid_t, const char*, const std::vector<T>&, std::string_view); \
  template T read_attribute<T>(hid_t, const char*, std::string_view);                                  \
  template std::vector<T> read_attribute_array<T>(hid_t, const char*, std::string_view);
SY_H5_ATTR_INSTANTIATE(int64_t)
SY_H5_ATTR_INSTANTIATE(uint64_t)
SY_H5_ATTR_INSTANTIATE(double)
#undef SY_H5_ATTR_INSTANTIATE

}  // namespace sy::h5
