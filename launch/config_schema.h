// launch/config_schema.h — the one table of config keys (DESIGN.md §6) and what derives from it:
// INI + override parsing, resolved defaults, validation, --help text and INI output.
#pragma once
#include <boost/program_options/options_description.hpp>
#include <functional>
#include <string>
#include <vector>

#include "runtime/config.h"

namespace sy {

enum class KeyType { integer, real, boolean, text, choice, int_list };

// One row of the schema.  `set` and `get` are built from pointers to members, so a key
// cannot drift from the struct field it fills.
struct ConfigKey {
  std::string name;  // "section.key", as written on the command line
  KeyType type = KeyType::text;
  std::vector<std::string> choices;  // allowed values when type == choice
  std::string help;                  // one line; says what 0 / empty means where that matters
  // Parses one value (already trimmed) into `config`, checking the key's own range; throws
  // ConfigError "config error: <name> = <value> <problem>".
  std::function<void(Config&, const std::string& value)> set;
  // The key's current value in the exact text `set` reads back.
  std::function<std::string(const Config&)> get;

  std::string section() const { return name.substr(0, name.find('.')); }
  std::string key() const { return name.substr(name.find('.') + 1); }
  std::string default_text() const { return get(Config{}); }
};

// Every key, grouped by section in DESIGN.md §6 order.
const std::vector<ConfigKey>& config_schema();
// The key called `name` ("section.key"), or nullptr.
const ConfigKey* find_config_key(const std::string& name);
// Section names in table order: model, moe, train, parallel, data, ckpt, log, eval.
std::vector<std::string> config_sections();

// One Boost option per key (value taken as text; the schema parses it), in one group per
// section captioned "[section]", with value names showing types/choices and the defaults.
// The same description parses INI files, overrides and the CLI, and prints --help.
boost::program_options::options_description config_options_description();

// Reads the INI file, applies the overrides (`--section.key=value` or `--section.key value`,
// later ones win, all win over the file), resolves defaults and validates.  Throws
// ConfigError (exit code 2) naming the key or the file.
Config parse_config(const std::string& ini_path, const std::vector<std::string>& overrides = {});
// The same from INI text (e.g. the config stored in a checkpoint); `origin` names the text in
// error messages.
Config parse_config_text(const std::string& ini_text,
                         const std::vector<std::string>& overrides = {},
                         const std::string& origin = "config text");
// Boost.Program_options rejects "--key=" (nothing after '='), yet clearing a key such as
// model.moe_layers or log.metrics needs it: rewrites such a token as "--key" "".
std::vector<std::string> expand_empty_values(const std::vector<std::string>& args);
// Checks each override names a key and carries a value that key accepts, without a file.
void check_overrides(const std::vector<std::string>& overrides);

// model.n_kv_heads 0 → model.n_heads; moe.d_expert 0 → model.d_ff.
void resolve_defaults(Config& config);
// Every key's own range, then every cross-key rule; throws ConfigError naming the key.
void validate(const Config& config);
// What needs the world size: parallel.ep divides it.
void validate_world(const Config& config, int world_size);

// Every key of every section, resolved defaults written out; parse_config_text reads it back
// to an equal Config.
std::string to_ini(const Config& config);
// The config keys part of `switchyard train --help`.
std::string config_help();

}  // namespace sy
