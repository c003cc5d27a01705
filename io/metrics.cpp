// io/metrics.cpp — JSON encoding of metric fields and the appending JSONL writer.
#include "io/metrics.h"

#include <filesystem>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "runtime/error.h"

namespace sy {
namespace {

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

template <class N>
void append_number(std::string& out, N v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_double(std::string& out, double v) {
  if (std::isfinite(v))
    append_number(out, v);  // shortest round-trip form, e.g. 0.1 not 0.10000000000000001
  else
    out += "null";
}

template <class Seq, class Put>
void append_array(std::string& out, const Seq& values, Put put) {
  out += '[';
  bool first = true;
  for (const auto& v : values) {
    if (!first) out += ',';
    first = false;
    put(out, v);
  }
  out += ']';
}

}  // namespace

void MetricsRecord::begin_field(std::string_view key) {
  if (!body_.empty()) body_ += ',';
  append_string(body_, key);
  body_ += ':';
}

MetricsRecord& MetricsRecord::add(std::string_view key, bool value) {
  begin_field(key);
  body_ += value ? "true" : "false";
  return *this;
}

MetricsRecord& MetricsRecord::add_int(std::string_view key, int64_t value) {
  begin_field(key);
  append_number(body_, value);
  return *this;
}

MetricsRecord& MetricsRecord::add_uint(std::string_view key, uint64_t value) {
  begin_field(key);
  append_number(body_, value);
  return *this;
}

MetricsRecord& MetricsRecord::add_double(std::string_view key, double value) {
  begin_field(key);
  append_double(body_, value);
  return *this;
}

MetricsRecord& MetricsRecord::add(std::string_view key, std::string_view value) {
  begin_field(key);
  append_string(body_, value);
  return *this;
}

MetricsRecord& MetricsRecord::add(std::string_view key, std::span<const int64_t> values) {
  begin_field(key);
  append_array(body_, values, [](std::string& o, int64_t v) { append_number(o, v); });
  return *this;
}

MetricsRecord& MetricsRecord::add(std::string_view key, std::span<const double> values) {
  begin_field(key);
  append_array(body_, values, append_double);
  return *this;
}

MetricsRecord& MetricsRecord::add(std::string_view key,
                                  const std::vector<std::vector<int64_t>>& rows) {
  begin_field(key);
  append_array(body_, rows, [](std::string& o, const std::vector<int64_t>& row) {
    append_array(o, row, [](std::string& o2, int64_t v) { append_number(o2, v); });
  });
  return *this;
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  if (path.empty()) return;
  // Like ckpt.dir, the metrics file's directory is created when missing.
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  file_.reset(std::fopen(path.c_str(), "a"));
  if (!file_)
    throw ConfigError("log.metrics = " + path + ": cannot open for appending: " +
                      std::strerror(errno));
}

void MetricsWriter::write(const MetricsRecord& record) {
  if (!file_) return;
  std::string line = record.json();
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0)
    throw DataError("metrics file " + path_ + ": write failed: " + std::strerror(errno));
}

}  // namespace sy
