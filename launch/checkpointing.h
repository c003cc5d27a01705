// launch/checkpointing.h — connects the model's ParameterSet and AdamW moments to io/'s checkpoint files.
#pragma once
#include <filesystem>

#include "io/checkpoint_reader.h"
#include "io/checkpoint_writer.h"
#include "runtime/config.h"
#include "runtime/optimizer.h"

namespace sy {

// The tensors this rank saves: every parameter and buffer, and (with `opt`) the
// moments of every trainable parameter.  The lists view the live buffers.
CheckpointTensors checkpoint_tensors(ParameterSet<float>& params, AdamW<float>* opt);

// Fills every parameter and buffer of `params` from the checkpoint (any EP size wrote it).
void load_parameters(CheckpointReader& reader, ParameterSet<float>& params);
// Fills the AdamW moments of every trainable parameter.
void load_moments(CheckpointReader& reader, AdamW<float>& opt);

// The run's config as stored in the checkpoint, with `overrides` applied.
Config stored_config(const CheckpointReader& reader, const std::vector<std::string>& overrides = {});
// DataError (exit 3) naming the checkpoint when its model differs from `run`'s.
void check_same_model(const CheckpointReader& reader, const Config& run);

}  // namespace sy
