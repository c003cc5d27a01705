// tests/unit/profile_test.cpp — the phase timers: MoE exchanges counted as a2a_wait, the report's header, SWITCHYARD_PROFILE=all.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/profile.h"
#include "small_models.h"

namespace sy {
namespace {

// Profiling on for one test; off (and the environment variable unset) after.
struct ProfilingOn {
  ProfilingOn() {
    prof::set_enabled(true);
    prof::reset();
  }
  ~ProfilingOn() {
    unsetenv("SWITCHYARD_PROFILE");
    prof::set_enabled(false);
  }
};

// One training step of a model with two MoE layers: every exchange the layers
// wait on (count exchange and the row transfers' finishes, forward and backward)
// is booked to a2a_wait, each direction.
TEST(Profile, MoeExchangesAreA2aWait) {
  ProfilingOn on;
  const Backend<float> be = make_cpu_backend<float>(1);
  test::SmallRun<float> r(be, test::olmoe_style(), 3, 1e-3);
  r.draw(1, 7);
  prof::reset();
  r.step(be);
  prof::flush();
  const prof::Totals& t = prof::totals();
  const int a2a = static_cast<int>(prof::Phase::a2a_wait);
  // Forward, per MoE layer: one count exchange and two finishes (dispatch, combine) with 1 chunk.
  EXPECT_EQ(t.calls[a2a][0], 2 * 3);
  // Backward, per MoE layer: two finishes (combine backward, dispatch backward).
  EXPECT_EQ(t.calls[a2a][1], 2 * 2);
  EXPECT_GT(t.calls[static_cast<int>(prof::Phase::experts)][0], 0);
}

TEST(Profile, ReportNamesItsRankAndEveryPhaseThatRan) {
  ProfilingOn on;
  {
    prof::Scope s(prof::Phase::a2a_wait);
  }
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  prof::print_report(out, 1, "rank 3");
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  EXPECT_EQ(report.rfind("profile of rank 3 (ms per step over 1 steps", 0), 0u) << report;
  EXPECT_NE(report.find("\na2a_wait "), std::string::npos) << report;
  EXPECT_NE(report.find("\nsum "), std::string::npos) << report;
}

TEST(Profile, AllMakesEveryRankReport) {
  ProfilingOn on;
  setenv("SWITCHYARD_PROFILE", "all", 1);
  EXPECT_TRUE(prof::every_rank_reports());
  setenv("SWITCHYARD_PROFILE", "1", 1);
  EXPECT_FALSE(prof::every_rank_reports());
  setenv("SWITCHYARD_PROFILE", "all", 1);
  prof::set_enabled(false);
  EXPECT_FALSE(prof::every_rank_reports());  // "all" names who reports, not whether to profile
}

}  // namespace
}  // namespace sy
