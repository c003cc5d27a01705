// tests/unit/metrics_test.cpp — MetricsRecord JSON encoding and MetricsWriter appending JSONL.
#include "io/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "runtime/error.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("sy_metrics_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(MetricsRecord, EncodesEveryFieldKind) {
  MetricsRecord r;
  r.add("step", 12)
      .add("tokens", int64_t{-5})
      .add("big", std::numeric_limits<uint64_t>::max())
      .add("loss", 3.25)
      .add("lr", 1e-3f)
      .add("ok", true)
      .add("name", "a\"b\\c\nd\x01")
      .add("load", std::vector<int64_t>{3, 0, 7})
      .add("expert_load", std::vector<std::vector<int64_t>>{{1, 2}, {}, {3}})
      .add("ms", std::vector<double>{0.5, 2.0});
  EXPECT_EQ(r.json(),
            R"({"step":12,"tokens":-5,"big":18446744073709551615,"loss":3.25,)"
            R"("lr":0.0010000000474974513,"ok":true,"name":"a\"b\\c\nd\u0001",)"
            R"("load":[3,0,7],"expert_load":[[1,2],[],[3]],"ms":[0.5,2]})");
  EXPECT_EQ(MetricsRecord().json(), "{}");
}

TEST(MetricsRecord, NonFiniteDoublesAreNull) {
  MetricsRecord r;
  r.add("nan", std::numeric_limits<double>::quiet_NaN())
      .add("inf", std::numeric_limits<double>::infinity())
      .add("ninf", -std::numeric_limits<double>::infinity())
      .add("arr", std::vector<double>{1.0, std::nan("")});
  EXPECT_EQ(r.json(), R"({"nan":null,"inf":null,"ninf":null,"arr":[1,null]})");
}

TEST(MetricsRecord, DoublesRoundTrip) {
  for (double v : {0.1, 1.0 / 3.0, 2.0 / 3.0 * 1e-300, -2.5e10, 5e-324, 1.7976931348623157e308}) {
    MetricsRecord r;
    r.add("v", v);
    std::string s = r.json();
    std::string num = s.substr(5, s.size() - 6);  // {"v":NUM}
    EXPECT_EQ(std::strtod(num.c_str(), nullptr), v) << s;
  }
  MetricsRecord r;
  r.add("v", 0.1);
  EXPECT_EQ(r.json(), R"({"v":0.1})") << "shortest round-trip form";
}

TEST(MetricsWriter, AppendsFlushedLinesAcrossWriters) {
  const std::string path = temp_path("append.jsonl");
  fs::remove(path);
  {
    MetricsWriter w(path);
    ASSERT_TRUE(w.enabled());
    w.write(MetricsRecord().add("step", 1).add("loss", 2.5));
    // Flushed at once: visible before the writer closes.
    EXPECT_EQ(read_all(path), "{\"step\":1,\"loss\":2.5}\n");
    w.write(MetricsRecord().add("step", 2).add("loss", 2.25));
  }
  {
    MetricsWriter w(path);  // a resumed run appends, never truncates
    w.write(MetricsRecord().add("step", 3).add("expert_load",
                                               std::vector<std::vector<int64_t>>{{4, 4}}));
  }
  EXPECT_EQ(read_all(path),
            "{\"step\":1,\"loss\":2.5}\n"
            "{\"step\":2,\"loss\":2.25}\n"
            "{\"step\":3,\"expert_load\":[[4,4]]}\n");
  fs::remove(path);
}

TEST(MetricsWriter, EmptyPathDisables) {
  MetricsWriter w("");
  EXPECT_FALSE(w.enabled());
  EXPECT_NO_THROW(w.write(MetricsRecord().add("step", 1)));
}

TEST(MetricsWriter, MissingDirectoriesAreCreated) {
  const std::string dir = temp_path("new_dir");
  const std::string path = dir + "/sub/m.jsonl";
  {
    MetricsWriter w(path);
    EXPECT_TRUE(w.enabled());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

TEST(MetricsWriter, UnopenablePathIsAConfigErrorNamingTheKey) {
  // Below /proc nothing can be created, not even as root.
  const std::string path = "/proc/switchyard-no-such-dir/m.jsonl";
  try {
    MetricsWriter w(path);
    ADD_FAILURE() << "opened " << path;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("log.metrics"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sy
