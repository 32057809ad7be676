// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/yaml_util.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unordered_set>

#include <fmt/format.h>

#include "sluice/duration.h"

namespace sluice::daemon {
namespace {

// yaml-cpp gives a quoted scalar the non-specific tag "!" and a plain one "?";
// an explicit "!!str" also makes a string.
bool IsQuotedOrStringTagged(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "!" || tag == "tag:yaml.org,2002:str";
}

std::string_view KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Undefined:
      break;
  }
  return "missing";
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// A scalar's text, or an error naming what it is instead.
Result<std::string> ScalarText(const YamlContext& ctx, const YAML::Node& node, std::string_view field,
                               std::string_view expected) {
  if (!node.IsScalar()) {
    return ctx.Error(node, fmt::format("field \"{}\" must be {}, not {}", field, expected, KindName(node)));
  }
  return node.Scalar();
}

// Looks `key` up in `map` without yaml-cpp throwing on a non-map; an
// undefined node when absent.
YAML::Node Lookup(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  try {
    return map[std::string(key)];
  } catch (const YAML::Exception&) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
}

template <typename T, typename Convert>
Result<std::optional<T>> GetOptional(const YAML::Node& map, std::string_view key, Convert convert) {
  YAML::Node node = Lookup(map, key);
  if (!node.IsDefined() || node.IsNull()) return std::optional<T>();
  SLUICE_ASSIGN_OR_RETURN(T value, convert(node));
  return std::optional<T>(std::move(value));
}

}  // namespace

std::string YamlContext::Where(const YAML::Node& node) const {
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (!mark.is_null() && mark.line >= 0) return fmt::format("{}:{}", file, mark.line + 1);
  }
  return file;
}

Status YamlContext::Error(const YAML::Node& node, std::string_view reason) const {
  return InvalidArgumentError(fmt::format("{}: {}", Where(node), reason));
}

Result<YAML::Node> ParseYaml(std::string_view text, const YamlContext& ctx) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    // e.msg is the bare reason; e.what() would repeat the position in
    // yaml-cpp's own format.
    if (!e.mark.is_null() && e.mark.line >= 0) {
      return InvalidArgumentError(
          fmt::format("{}:{}:{}: {}", ctx.file, e.mark.line + 1, e.mark.column + 1, e.msg));
    }
    return InvalidArgumentError(fmt::format("{}: {}", ctx.file, e.msg));
  } catch (const std::exception& e) {
    return InvalidArgumentError(fmt::format("{}: {}", ctx.file, e.what()));
  }
}

Result<YAML::Node> LoadYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError(fmt::format("{}: no such file", path));
    return InvalidArgumentError(fmt::format("{}: cannot open: {}", path, std::strerror(err)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return InvalidArgumentError(fmt::format("{}: read failed", path));
  return ParseYaml(contents.str(), YamlContext{path});
}

bool YamlHas(const YAML::Node& map, std::string_view key) {
  YAML::Node node = Lookup(map, key);
  return node.IsDefined() && !node.IsNull();
}

Status CheckYamlMap(const YamlContext& ctx, const YAML::Node& node, std::string_view where,
                    std::span<const std::string_view> allowed) {
  if (!node.IsMap()) return ctx.Error(node, fmt::format("{} must be a map, not {}", where, KindName(node)));
  // Maps in configuration are small; a set keeps a large hostile one linear.
  std::unordered_set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: the iterator yields a temporary
    // A plain scalar that YAML would resolve to something else (a number, a
    // boolean) is still matched by its text; it can only be a known field if
    // its text is one. Lists and maps as keys are never fields.
    if (!key.IsScalar()) return ctx.Error(key, fmt::format("a key in {} is not a string", where));
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      std::string expected;
      for (std::string_view a : allowed) {
        if (!expected.empty()) expected += ", ";
        expected += a;
      }
      return ctx.Error(key, fmt::format("unknown field \"{}\" in {} (expected one of {})", name, where, expected));
    }
    if (!seen.insert(name).second) {
      return ctx.Error(key, fmt::format("field \"{}\" appears twice in {}", name, where));
    }
  }
  return Status();
}

Status CheckYamlMap(const YamlContext& ctx, const YAML::Node& node, std::string_view where,
                    std::initializer_list<std::string_view> allowed) {
  return CheckYamlMap(ctx, node, where, std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

Result<std::string> YamlAsString(const YamlContext& ctx, const YAML::Node& node, std::string_view field) {
  return ScalarText(ctx, node, field, "a string");
}

Result<bool> YamlAsBool(const YamlContext& ctx, const YAML::Node& node, std::string_view field) {
  SLUICE_ASSIGN_OR_RETURN(std::string text, ScalarText(ctx, node, field, "true or false"));
  if (!IsQuotedOrStringTagged(node)) {
    for (std::string_view t : {"true", "yes", "on", "y"}) {
      if (EqualsIgnoreCase(text, t)) return true;
    }
    for (std::string_view f : {"false", "no", "off", "n"}) {
      if (EqualsIgnoreCase(text, f)) return false;
    }
  }
  return ctx.Error(node, fmt::format("field \"{}\" must be true or false, not \"{}\"", field, text));
}

Result<int64_t> YamlAsInt64(const YamlContext& ctx, const YAML::Node& node, std::string_view field, int64_t min,
                            int64_t max) {
  SLUICE_ASSIGN_OR_RETURN(std::string text, ScalarText(ctx, node, field, "an integer"));
  // YAML allows an explicit '+'; from_chars does not.
  const size_t skip = (text.size() > 1 && text[0] == '+' && text[1] != '-') ? 1 : 0;
  const std::string_view digits = std::string_view(text).substr(skip);
  int64_t value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  const bool is_integer = !IsQuotedOrStringTagged(node) && !digits.empty() && ptr == end &&
                          (ec == std::errc() || ec == std::errc::result_out_of_range);
  if (!is_integer) {
    return ctx.Error(node, fmt::format("field \"{}\" must be an integer, not \"{}\"", field, text));
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return ctx.Error(node, fmt::format("field \"{}\" must be in [{}, {}], not {}", field, min, max, text));
  }
  return value;
}

Result<uint32_t> YamlAsUint32(const YamlContext& ctx, const YAML::Node& node, std::string_view field) {
  SLUICE_ASSIGN_OR_RETURN(int64_t value, YamlAsInt64(ctx, node, field, 0, std::numeric_limits<uint32_t>::max()));
  return static_cast<uint32_t>(value);
}

Result<std::chrono::nanoseconds> YamlAsDuration(const YamlContext& ctx, const YAML::Node& node,
                                                std::string_view field) {
  SLUICE_ASSIGN_OR_RETURN(std::string text, ScalarText(ctx, node, field, "a duration such as \"90s\""));
  Result<std::chrono::nanoseconds> d = ParseDuration(text);
  if (!d.ok()) {
    return ctx.Error(node, fmt::format("field \"{}\": {}", field, d.status().message()));
  }
  return *d;
}

Result<std::vector<std::string>> YamlAsStringList(const YamlContext& ctx, const YAML::Node& node,
                                                  std::string_view field) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    return ctx.Error(node, fmt::format("field \"{}\" must be a list of strings, not {}", field, KindName(node)));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node item = *it;
    if (!item.IsScalar()) {
      return ctx.Error(item, fmt::format("field \"{}\" must be a list of strings; an item is {}", field,
                                         KindName(item)));
    }
    out.push_back(item.Scalar());
  }
  return out;
}

Result<std::optional<std::string>> GetYamlString(const YamlContext& ctx, const YAML::Node& map,
                                                 std::string_view key) {
  return GetOptional<std::string>(map, key, [&](const YAML::Node& n) { return YamlAsString(ctx, n, key); });
}

Result<std::optional<bool>> GetYamlBool(const YamlContext& ctx, const YAML::Node& map, std::string_view key) {
  return GetOptional<bool>(map, key, [&](const YAML::Node& n) { return YamlAsBool(ctx, n, key); });
}

Result<std::optional<int64_t>> GetYamlInt64(const YamlContext& ctx, const YAML::Node& map, std::string_view key,
                                            int64_t min, int64_t max) {
  return GetOptional<int64_t>(map, key, [&](const YAML::Node& n) { return YamlAsInt64(ctx, n, key, min, max); });
}

Result<std::optional<uint32_t>> GetYamlUint32(const YamlContext& ctx, const YAML::Node& map,
                                               std::string_view key) {
  return GetOptional<uint32_t>(map, key, [&](const YAML::Node& n) { return YamlAsUint32(ctx, n, key); });
}

Result<std::optional<std::chrono::nanoseconds>> GetYamlDuration(const YamlContext& ctx, const YAML::Node& map,
                                                                std::string_view key) {
  return GetOptional<std::chrono::nanoseconds>(map, key,
                                               [&](const YAML::Node& n) { return YamlAsDuration(ctx, n, key); });
}

Result<std::optional<std::vector<std::string>>> GetYamlStringList(const YamlContext& ctx, const YAML::Node& map,
                                                                  std::string_view key) {
  return GetOptional<std::vector<std::string>>(map, key,
                                               [&](const YAML::Node& n) { return YamlAsStringList(ctx, n, key); });
}

}  // namespace sluice::daemon
