// io/checkpoint_layout.cpp — checkpoint file/directory names and the expert id rewrite.
#include "io/checkpoint_layout.h"

#include <charconv>
#include <cstdio>

#include "runtime/error.h"

namespace sy {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// [begin, end) of the id component after an "experts" component, or npos.
std::pair<size_t, size_t> expert_id_span(std::string_view name) {
  size_t begin = 0;
  bool after_experts = false;
  while (begin <= name.size()) {
    size_t end = name.find('/', begin);
    if (end == std::string_view::npos) end = name.size();
    std::string_view component = name.substr(begin, end - begin);
    if (after_experts && all_digits(component)) return {begin, end};
    after_experts = component == "experts";
    begin = end + 1;
  }
  return {std::string_view::npos, std::string_view::npos};
}

}  // namespace

std::string rank_file_name(int64_t file_index) { return "model-rank-" + std::to_string(file_index) + ".h5"; }

std::string step_dir_name(int64_t step) {
  SY_ASSERT(step >= 0, "negative step");
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::string partial_dir_name(int64_t step) { return step_dir_name(step) + ".partial"; }

std::optional<int64_t> parse_step_dir_name(std::string_view name) {
  constexpr std::string_view prefix = "step-";
  if (!name.starts_with(prefix)) return std::nullopt;
  std::string_view digits = name.substr(prefix.size());
  if (digits.size() < 8 || digits.size() > 18 || !all_digits(digits)) return std::nullopt;
  int64_t step = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (step_dir_name(step) != name) return std::nullopt;  // e.g. 9 digits with a leading zero
  return step;
}

std::string_view section_group(TensorSection s) {
  switch (s) {
    case TensorSection::model: return "/model";
    case TensorSection::exp_avg: return "/optimizer/exp_avg";
    case TensorSection::exp_avg_sq: return "/optimizer/exp_avg_sq";
  }
  return "";
}

std::string_view section_name(TensorSection s) {
  switch (s) {
    case TensorSection::model: return "model";
    case TensorSection::exp_avg: return "exp_avg";
    case TensorSection::exp_avg_sq: return "exp_avg_sq";
  }
  return "";
}

ExpertLocation locate_expert(int64_t global_id, int64_t experts_per_file) {
  SY_ASSERT(global_id >= 0 && experts_per_file > 0, "bad expert id or experts per file");
  return {global_id / experts_per_file, global_id % experts_per_file};
}

void validate_tensor_name(std::string_view name) {
  size_t begin = 0;
  while (true) {
    size_t end = name.find('/', begin);
    std::string_view component = name.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (component.empty() || component == "." || component == "..")
      throw DataError("invalid tensor name '" + std::string(name) +
                      "' (want a relative path like decoder/layers/0/fc1/weight)");
    if (end == std::string_view::npos) return;
    begin = end + 1;
  }
}

int64_t expert_id_in_name(std::string_view name) {
  auto [begin, end] = expert_id_span(name);
  if (begin == std::string_view::npos) return -1;
  int64_t id = -1;
  auto [ptr, ec] = std::from_chars(name.data() + begin, name.data() + end, id);
  return ec == std::errc() && ptr == name.data() + end ? id : -1;
}

std::string with_expert_id(std::string_view name, int64_t id) {
  auto [begin, end] = expert_id_span(name);
  SY_ASSERT(begin != std::string_view::npos, "no expert id in " + std::string(name));
  return std::string(name.substr(0, begin)) + std::to_string(id) + std::string(name.substr(end));
}

std::string local_expert_name(std::string_view global_name, int64_t experts_per_file) {
  return with_expert_id(global_name, locate_expert(expert_id_in_name(global_name), experts_per_file).local);
}

std::string global_expert_name(std::string_view local_name, int64_t file_index, int64_t experts_per_file) {
  return with_expert_id(local_name, file_index * experts_per_file + expert_id_in_name(local_name));
}

}  // namespace sy
