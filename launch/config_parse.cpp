// launch/config_parse.cpp — INI text and --section.key overrides read through the schema; INI
// and --help written from it.
#include <boost/program_options.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "launch/config_schema.h"
#include "runtime/error.h"

namespace po = boost::program_options;

namespace sy {
namespace {

using RawValues = std::map<std::string, std::string>;  // key name -> value text as written

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string value_hint(const ConfigKey& k) {
  switch (k.type) {
    case KeyType::integer:
      return "int";
    case KeyType::real:
      return "float";
    case KeyType::boolean:
      return "true|false";
    case KeyType::int_list:
      return "i,j,...";
    case KeyType::text:
      return "text";
    case KeyType::choice: {
      std::string s;
      for (const auto& c : k.choices) s += (s.empty() ? "" : "|") + c;
      return s;
    }
  }
  return "value";
}

// Boost's INI reader knows only '#' comments; INI files also start comment lines with ';'.
// Only whole-line ';' comments are dropped, so a ';' inside a value survives.
std::string drop_semicolon_comment_lines(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b != std::string::npos && line[b] == ';') line.clear();
    out += line;
    out += '\n';
  }
  return out;
}

// Boost's name of an unknown option: "--model.foo=3" → "model.foo".
std::string option_key(std::string name) {
  name = name.substr(0, name.find('='));
  while (!name.empty() && name[0] == '-') name.erase(0, 1);
  return name;
}

RawValues read_ini(const std::string& text, const std::string& origin) {
  static const po::options_description desc = config_options_description();
  std::istringstream in(drop_semicolon_comment_lines(text));
  RawValues values;
  try {
    po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/false);
    for (const auto& opt : parsed.options) {
      std::string value = opt.value.empty() ? "" : opt.value.front();
      if (!values.emplace(opt.string_key, value).second)
        throw ConfigError("config error: " + opt.string_key + " is set twice in " + origin);
    }
  } catch (const po::unknown_option& e) {
    throw ConfigError("config error: unknown key " + option_key(e.get_option_name()) + " in " +
                      origin);
  } catch (const po::error& e) {
    throw ConfigError("config error: " + origin + ": " + e.what());
  }
  return values;
}

// Overrides: later ones win, so `--train.steps=5 --train.steps=7` means 7.
void read_overrides(const std::vector<std::string>& overrides, RawValues& values) {
  static const po::options_description desc = config_options_description();
  try {
    po::parsed_options parsed =
        po::command_line_parser(expand_empty_values(overrides))
            .options(desc)
            .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
            .run();
    for (const auto& opt : parsed.options) {
      if (opt.position_key >= 0 || opt.string_key.empty())
        throw ConfigError("config error: override '" +
                          (opt.value.empty() ? "" : opt.value.front()) +
                          "' is not of the form --section.key=value");
      if (opt.value.empty())
        throw ConfigError("config error: " + opt.string_key + " has no value on the command line");
      values[opt.string_key] = opt.value.front();
    }
  } catch (const po::unknown_option& e) {
    throw ConfigError("config error: unknown key " + option_key(e.get_option_name()) +
                      " (command line)");
  } catch (const po::error& e) {
    throw ConfigError(std::string("config error: ") + e.what());
  }
}

Config build_config(const RawValues& values) {
  Config config;
  for (const auto& key : config_schema()) {
    auto it = values.find(key.name);
    if (it != values.end()) key.set(config, trim(it->second));
  }
  resolve_defaults(config);
  validate(config);
  return config;
}

}  // namespace

po::options_description config_options_description() {
  po::options_description all(
      "Config keys ([section] key = value in the INI file, or --section.key=value)", 100, 50);
  for (const auto& section : config_sections()) {
    po::options_description group("[" + section + "]", 100, 50);
    for (const auto& k : config_schema()) {
      if (k.section() != section) continue;
      std::string def = k.default_text();
      group.add_options()(k.name.c_str(),
                          po::value<std::string>()
                              ->value_name(value_hint(k))
                              ->default_value(def, def.empty() ? "\"\"" : def),
                          k.help.c_str());
    }
    all.add(group);
  }
  return all;
}

std::vector<std::string> expand_empty_values(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' && a.find('=') == a.size() - 1) {
      out.push_back(a.substr(0, a.size() - 1));
      out.push_back("");
    } else {
      out.push_back(a);
    }
  }
  return out;
}

Config parse_config(const std::string& ini_path, const std::vector<std::string>& overrides) {
  std::ifstream file(ini_path, std::ios::binary);
  if (!file) throw ConfigError("config error: cannot read config file " + ini_path);
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw ConfigError("config error: cannot read config file " + ini_path);
  RawValues values = read_ini(text.str(), ini_path);
  read_overrides(overrides, values);
  return build_config(values);
}

Config parse_config_text(const std::string& ini_text, const std::vector<std::string>& overrides,
                         const std::string& origin) {
  RawValues values = read_ini(ini_text, origin);
  read_overrides(overrides, values);
  return build_config(values);
}

void check_overrides(const std::vector<std::string>& overrides) {
  RawValues values;
  read_overrides(overrides, values);
  Config scratch;
  for (const auto& [name, value] : values) find_config_key(name)->set(scratch, trim(value));
}

std::string to_ini(const Config& config) {
  Config resolved = config;
  resolve_defaults(resolved);
  std::ostringstream os;
  std::string section;
  for (const auto& k : config_schema()) {
    if (k.section() != section) {
      if (!section.empty()) os << '\n';
      section = k.section();
      os << '[' << section << "]\n";
    }
    std::string value = k.get(resolved);
    os << k.key() << " =" << (value.empty() ? "" : " " + value) << '\n';
  }
  return os.str();
}

std::string config_help() {
  std::ostringstream os;
  os << config_options_description();
  return os.str();
}

}  // namespace sy
