// io/mapped_file.h — MappedFile: a read-only memory map of a whole file, unmapped on destruction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sy {

// Data files can be hundreds of MB; mapping them lets the page cache hold them
// once per node instead of once per rank.  An empty file maps to no memory
// (mmap rejects length 0) and reads as size() == 0.
class MappedFile {
 public:
  // Throws DataError naming `path` when it cannot be opened, stat'ed or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sy
