// launch/ckpt_actions.h — the `switchyard ckpt` actions that need the model or write files
// (ckpt_command dispatches to them).
#pragma once
#include <cstdint>
#include <filesystem>

#include "launch/cli.h"

namespace sy {

// verify CKPT: files, checksums, shapes against the stored config, expert coverage.
// Prints "verify: OK (<n> tensors)"; DataError naming the file and dataset otherwise.
int ckpt_verify(const CliCommand& cmd);
// reshard SRC DST --ep N: rewrites SRC as <DST>/step-N with ep_size N; returns the new checkpoint.
std::filesystem::path reshard_checkpoint(const std::filesystem::path& src, const std::filesystem::path& dst,
                                         int64_t ep);
int ckpt_reshard(const CliCommand& cmd);

}  // namespace sy
