// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Strict reading of YAML configuration (the daemon's config file and the rule
// files) on top of yaml-cpp: parsing, allow-listed map keys and typed field
// getters, each failing with a message that names the file and line, so a
// user can go straight to the mistake.
//
// Every error is kInvalidArgument (kNotFound for a missing file) and reads
// "FILE:LINE:COL: reason" for syntax errors and "FILE:LINE: reason" for
// everything else (1-based; just "FILE: reason" where yaml-cpp knows no
// position). No function here throws: yaml-cpp's exceptions are caught and
// turned into a Status.
//
// Typing is strict where YAML is loose: a boolean is a plain (unquoted)
// true/false/yes/no/on/off/y/n in any case, as YAML 1.1 resolves them; an
// integer is a plain decimal number; a quoted "5" is a string, not a number.
// Strings accept any scalar (`value: 123` is the string "123"). A field that
// is absent or null (`key:` or `key: ~`) is "not given" for every getter.
//
// Thread-safety: plain functions; a YAML::Node must not be read from two
// threads at once (yaml-cpp nodes share mutable state).
//
// Example:
//   YamlContext ctx{"sluiced.yaml"};
//   SLUICE_ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(ctx.file));
//   SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, root, "the top level", {"http", "store"}));
//   SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> store, GetYamlString(ctx, root, "store"));

#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/result.h"
#include "sluice/status.h"

namespace sluice::daemon {

// Which file nodes come from, for messages.
struct YamlContext {
  std::string file;

  // "FILE:LINE" (1-based) for `node`, or "FILE" if it has no position.
  std::string Where(const YAML::Node& node) const;
  // kInvalidArgument "FILE:LINE: reason".
  Status Error(const YAML::Node& node, std::string_view reason) const;
};

// Parses one YAML document (the first, as upstream's loaders do). An empty
// text gives a null node. kInvalidArgument "FILE:LINE:COL: reason" on a
// syntax error.
Result<YAML::Node> ParseYaml(std::string_view text, const YamlContext& ctx);

// Reads and parses the file at `path` (named `path` in messages). kNotFound if
// it does not exist; kInvalidArgument if it cannot be read or parsed.
Result<YAML::Node> LoadYamlFile(const std::string& path);

// True if `map[key]` is given: present and not null.
bool YamlHas(const YAML::Node& map, std::string_view key);

// Checks that `node` is a map whose keys are all strings from `allowed`, each
// at most once. `where` describes the map for messages ("the top level",
// "rate_limit"). Errors:
//   FILE:LINE: <where> must be a map
//   FILE:LINE: unknown field "x" in <where> (expected one of a, b, c)
//   FILE:LINE: field "x" appears twice in <where>
//   FILE:LINE: a key in <where> is not a string
Status CheckYamlMap(const YamlContext& ctx, const YAML::Node& node, std::string_view where,
                    std::span<const std::string_view> allowed);
Status CheckYamlMap(const YamlContext& ctx, const YAML::Node& node, std::string_view where,
                    std::initializer_list<std::string_view> allowed);

// Converters of one value node; `field` names it in messages
// ("FILE:LINE: field \"unit\" must be a string, not a map"). They do not
// accept null; check with YamlHas first or use the Get* functions below.
Result<std::string> YamlAsString(const YamlContext& ctx, const YAML::Node& node, std::string_view field);
Result<bool> YamlAsBool(const YamlContext& ctx, const YAML::Node& node, std::string_view field);
// A decimal integer in [min, max].
Result<int64_t> YamlAsInt64(const YamlContext& ctx, const YAML::Node& node, std::string_view field,
                            int64_t min = std::numeric_limits<int64_t>::min(),
                            int64_t max = std::numeric_limits<int64_t>::max());
Result<uint32_t> YamlAsUint32(const YamlContext& ctx, const YAML::Node& node, std::string_view field);
// A duration as sluice::ParseDuration reads it ("90s", "1h30m", "250ms").
Result<std::chrono::nanoseconds> YamlAsDuration(const YamlContext& ctx, const YAML::Node& node,
                                                std::string_view field);
// A sequence of scalars, or a single scalar taken as a one-element list.
Result<std::vector<std::string>> YamlAsStringList(const YamlContext& ctx, const YAML::Node& node,
                                                  std::string_view field);

// Optional fields of a map: nullopt when map[key] is absent or null,
// otherwise the converted value or the converter's error.
Result<std::optional<std::string>> GetYamlString(const YamlContext& ctx, const YAML::Node& map, std::string_view key);
Result<std::optional<bool>> GetYamlBool(const YamlContext& ctx, const YAML::Node& map, std::string_view key);
Result<std::optional<int64_t>> GetYamlInt64(const YamlContext& ctx, const YAML::Node& map, std::string_view key,
                                            int64_t min = std::numeric_limits<int64_t>::min(),
                                            int64_t max = std::numeric_limits<int64_t>::max());
Result<std::optional<uint32_t>> GetYamlUint32(const YamlContext& ctx, const YAML::Node& map, std::string_view key);
Result<std::optional<std::chrono::nanoseconds>> GetYamlDuration(const YamlContext& ctx, const YAML::Node& map,
                                                                std::string_view key);
Result<std::optional<std::vector<std::string>>> GetYamlStringList(const YamlContext& ctx, const YAML::Node& map,
                                                                  std::string_view key);

}  // namespace sluice::daemon
