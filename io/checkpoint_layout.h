// io/checkpoint_layout.h — the names inside a checkpoint (DESIGN.md §5): files, step
// directories, dataset sections, and where a global expert id lives.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/tensor.h"

namespace sy {

inline constexpr std::string_view kCheckpointFormat = "switchyard-moe";
inline constexpr int64_t kCheckpointFormatVersion = 1;
inline constexpr std::string_view kChecksumAlgorithm = "xxh64";  // see io/checksum.h
inline constexpr std::string_view kSharedFileName = "model-shared.h5";
inline constexpr std::string_view kLatestFileName = "latest";

std::string rank_file_name(int64_t file_index);  // "model-rank-3.h5"
std::string step_dir_name(int64_t step);         // "step-00000200" (8 digits, more if needed)
std::string partial_dir_name(int64_t step);      // "step-00000200.partial"
// The step of a complete checkpoint's directory name ("step-" + at least 8
// digits, nothing else), or nullopt for anything else (".partial", "latest", ...).
std::optional<int64_t> parse_step_dir_name(std::string_view name);

// The three trees a checkpoint file holds; a tensor's dataset is <group>/<name>.
enum class TensorSection { model, exp_avg, exp_avg_sq };
std::string_view section_group(TensorSection s);  // "/model", "/optimizer/exp_avg", "/optimizer/exp_avg_sq"
std::string_view section_name(TensorSection s);   // "model", "exp_avg", "exp_avg_sq"

// One tensor the caller saves or wants loaded, under its in-memory (checkpoint)
// name, which always carries the *global* expert id:
// decoder/layers/1/moe_layer/experts/5/fc1/weight has expert = 5.  Dense
// tensors (including non-trainable buffers like .../gate/expert_bias) have
// expert = -1.  `data` holds shape_numel(shape) float32 values, row-major; it is
// read when saving and overwritten when loading.
struct NamedTensor {
  std::string name;
  Shape shape;
  float* data = nullptr;
  int expert = -1;
};

// fairseq's rule: with L experts per file, global expert e lives in
// model-rank-(e / L).h5 as local expert e % L.
struct ExpertLocation {
  int64_t file = 0;
  int64_t local = 0;
};
ExpertLocation locate_expert(int64_t global_id, int64_t experts_per_file);

// Throws DataError unless `name` is a relative '/'-separated path of non-empty
// components other than "." and "..".
void validate_tensor_name(std::string_view name);

// The expert id in a name: the component right after a component that is
// exactly "experts" (so shared_experts/0 is not an expert); -1 when none.
int64_t expert_id_in_name(std::string_view name);
// `name` with that id component replaced by `id`.  Requires expert_id_in_name(name) >= 0.
std::string with_expert_id(std::string_view name, int64_t id);
// In-memory name (global id) -> name inside its rank file (local id), and back.
std::string local_expert_name(std::string_view global_name, int64_t experts_per_file);
std::string global_expert_name(std::string_view local_name, int64_t file_index, int64_t experts_per_file);

}  // namespace sy
