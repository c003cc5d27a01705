// launch/checkpointing.cpp — ParameterSet/AdamW ↔ NamedTensor lists, and checks of a checkpoint's config.
#include "launch/checkpointing.h"

#include "launch/config_schema.h"

namespace sy {

namespace {
NamedTensor named(const Parameter<float>& p, Tensor<float>& t) {
  return NamedTensor{p.name, t.shape(), t.data(), p.group == ParamGroup::expert ? p.expert : -1};
}
}  // namespace

CheckpointTensors checkpoint_tensors(ParameterSet<float>& params, AdamW<float>* opt) {
  CheckpointTensors out;
  for (auto& p : params) out.model.push_back(named(p, p.value));
  if (opt)
    for (auto& m : opt->moments()) {
      out.exp_avg.push_back(named(*m.param, m.exp_avg));
      out.exp_avg_sq.push_back(named(*m.param, m.exp_avg_sq));
    }
  return out;
}

void load_parameters(CheckpointReader& reader, ParameterSet<float>& params) {
  reader.load(checkpoint_tensors(params, nullptr).model, TensorSection::model);
}

void load_moments(CheckpointReader& reader, AdamW<float>& opt) {
  std::vector<NamedTensor> avg, avg_sq;
  for (auto& m : opt.moments()) {
    avg.push_back(named(*m.param, m.exp_avg));
    avg_sq.push_back(named(*m.param, m.exp_avg_sq));
  }
  reader.load(avg, TensorSection::exp_avg);
  reader.load(avg_sq, TensorSection::exp_avg_sq);
}

Config stored_config(const CheckpointReader& reader, const std::vector<std::string>& overrides) {
  try {
    return parse_config_text(reader.meta().config, overrides, (reader.dir() / "model-shared.h5").string());
  } catch (const ConfigError& e) {
    // A bad override is the user's usage error; a bad stored config is a bad checkpoint.
    if (!overrides.empty()) throw;
    throw DataError((reader.dir() / "model-shared.h5").string() + ": stored config is invalid: " + e.what());
  }
}

void check_same_model(const CheckpointReader& reader, const Config& run) {
  const Config stored = stored_config(reader);
  const std::string where = (reader.dir() / "model-shared.h5").string();
  for (const ConfigKey& k : config_schema()) {
    const bool structural = k.section() == "model" || k.name == "moe.num_experts" || k.name == "moe.d_expert" ||
                            k.name == "moe.shared_experts";
    if (structural && k.get(stored) != k.get(run))
      throw DataError(where + ": checkpoint was trained with " + k.name + " = " + k.get(stored) +
                      ", this run has " + k.get(run) + " (the model must match to resume)");
  }
}

}  // namespace sy
