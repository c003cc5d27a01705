// io/metrics.h — MetricsRecord (one JSON object) and MetricsWriter (appends records as JSONL lines).
#pragma once
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sy {

// Builds one flat JSON object field by field, in insertion order:
//   MetricsRecord r;  r.add("step", 12).add("loss", 3.25).add("expert_load", loads);
// Numbers: integers exactly; doubles in the shortest form that reads back to
// the same double (std::to_chars), so values round-trip.  JSON has no NaN or
// infinity: a non-finite double is written as null (a NaN loss shows up as
// "loss":null).  Strings and keys are escaped (", \, control characters).
// Duplicate keys are the caller's mistake and are not checked.
class MetricsRecord {
 public:
  MetricsRecord& add(std::string_view key, bool value);
  template <std::signed_integral I>
  MetricsRecord& add(std::string_view key, I value) { return add_int(key, static_cast<int64_t>(value)); }
  template <std::unsigned_integral U>
    requires(!std::same_as<U, bool>)
  MetricsRecord& add(std::string_view key, U value) { return add_uint(key, static_cast<uint64_t>(value)); }
  template <std::floating_point F>
  MetricsRecord& add(std::string_view key, F value) { return add_double(key, static_cast<double>(value)); }
  MetricsRecord& add(std::string_view key, std::string_view value);
  MetricsRecord& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  // [1,2,3]
  MetricsRecord& add(std::string_view key, std::span<const int64_t> values);
  MetricsRecord& add(std::string_view key, std::span<const double> values);
  // [[1,2],[3,4]] — e.g. expert_load: per MoE layer, the token count of every expert.
  MetricsRecord& add(std::string_view key, const std::vector<std::vector<int64_t>>& rows);

  // The object, e.g. {"step":12,"loss":3.25}; "{}" when no field was added.
  std::string json() const { return "{" + body_ + "}"; }

 private:
  MetricsRecord& add_int(std::string_view key, int64_t value);
  MetricsRecord& add_uint(std::string_view key, uint64_t value);
  MetricsRecord& add_double(std::string_view key, double value);
  void begin_field(std::string_view key);

  std::string body_;
};

// Appends one record per line to a file (JSON Lines).  The file is opened in
// append mode, so a resumed run continues the same file, and every line is
// written with one fwrite and flushed, so a crash loses at most the line being
// written.  An empty path disables the writer (write() does nothing).
class MetricsWriter {
 public:
  // Throws ConfigError naming log.metrics when the file cannot be opened.
  explicit MetricsWriter(const std::string& path);

  bool enabled() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }
  // Throws DataError naming the file when the write or flush fails.
  void write(const MetricsRecord& record);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

}  // namespace sy
