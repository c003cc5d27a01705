// io/data_source.cpp — make_data_source: the data.source spec to a DataSource.
#include "io/data_source.h"

#include "io/file_source.h"
#include "io/synthetic_source.h"
#include "runtime/error.h"

namespace sy {

std::unique_ptr<DataSource> make_data_source(const std::string& spec, int vocab_size,
                                             uint64_t source_seed) {
  if (vocab_size <= 0)
    throw ConfigError("model.vocab_size = " + std::to_string(vocab_size) + " must be positive");
  if (spec == "synthetic") return std::make_unique<SyntheticSource>(vocab_size, source_seed);
  auto rest_after = [&](std::string_view prefix) -> std::string {
    if (spec.size() <= prefix.size() || spec.compare(0, prefix.size(), prefix) != 0) return {};
    return spec.substr(prefix.size());
  };
  if (std::string path = rest_after("text:"); !path.empty()) return make_text_source(path, vocab_size);
  if (std::string pattern = rest_after("shards:"); !pattern.empty())
    return make_shard_source(pattern, vocab_size);
  throw ConfigError("data.source = '" + spec +
                    "' is not one of: synthetic, text:PATH, shards:GLOB");
}

}  // namespace sy
