// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rules.h"

// Where this differs from envoyproxy/ratelimit, on purpose:
//   - Upstream looks descriptors up by the joined string "key_value" (and
//     matches wildcards against it), so key "a_b" with value "c" can hit the
//     rule for key "a" with value "b_c", and a pattern "b*" under key "a"
//     matches key "a_b". Here the key must be equal and only the value is
//     matched against the pattern.
//   - Allowed fields are checked per map (top level, descriptor, rate_limit,
//     replaces entry) rather than against one global list, so a field in the
//     wrong place ("unit" in a descriptor) is reported instead of ignored.
//   - A limit needs requests_per_unit; upstream reads a missing one as 0,
//     which denies every request. An explicit 0 keeps that meaning.
//   - Counter keys escape '_' and '\' inside parts (see RuleMatch).

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <cstring>
#include <limits>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "daemon/yaml_util.h"
#include "sluice/clock.h"

namespace sluice::daemon {
namespace {

// Hash and equality that let maps keyed by std::string be searched with a
// std::string_view, so a lookup on the request path allocates nothing.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Level;

// One descriptor of a rule file, compiled. Nodes without a rule are the
// intermediate levels of nested descriptors.
struct Node {
  int32_t rule = -1;  // index into Impl::rules, or -1
  bool value_to_metric = false;
  bool share_threshold = false;
  std::string value;  // the configured value; empty for key-only descriptors
  size_t file = 0;    // where it was defined, for duplicate errors
  int line = 0;
  std::unique_ptr<Level> children;  // null when the descriptor has none

  bool HasChildren() const;
};

// A value pattern with '*' split into its literal parts at load time
// ("a*b*c" -> {"a", "b", "c"}), so matching allocates nothing.
struct Wildcard {
  std::string key;
  std::vector<std::string> parts;
  const Node* node = nullptr;
};

// The descriptors of one level. A request entry is looked up first by key
// and value, then against the wildcards in file order, then by key alone.
struct Level {
  StringMap<StringMap<std::unique_ptr<Node>>> by_value;  // key -> value -> node (wildcards too)
  StringMap<std::unique_ptr<Node>> key_only;
  std::vector<Wildcard> wildcards;

  bool empty() const { return by_value.empty() && key_only.empty(); }
};

bool Node::HasChildren() const { return children != nullptr && !children->empty(); }

// Each '*' matches any run of characters, including none.
bool GlobMatch(const std::vector<std::string>& parts, std::string_view value) {
  if (parts.size() == 1) return parts.front() == value;
  const std::string& first = parts.front();
  const std::string& last = parts.back();
  size_t fixed = 0;
  for (const std::string& p : parts) fixed += p.size();
  if (value.size() < fixed) return false;
  if (value.substr(0, first.size()) != first) return false;
  if (value.substr(value.size() - last.size()) != last) return false;
  std::string_view rest = value.substr(first.size(), value.size() - first.size() - last.size());
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    const size_t at = rest.find(parts[i]);
    if (at == std::string_view::npos) return false;
    rest.remove_prefix(at + parts[i].size());
  }
  return true;
}

std::vector<std::string> SplitOnStar(std::string_view pattern) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t star = pattern.find('*', start);
    if (star == std::string_view::npos) {
      parts.emplace_back(pattern.substr(start));
      return parts;
    }
    parts.emplace_back(pattern.substr(start, star - start));
    start = star + 1;
  }
}

// Counter keys join parts with '_'; a backslash escapes '_' and '\' inside a
// part, so no two different (domain, entries) give the same key.
void AppendEscaped(std::string& out, std::string_view part) {
  for (char c : part) {
    if (c == '_' || c == '\\') out += '\\';
    out += c;
  }
}

// 64-bit FNV-1a over length-prefixed fields.
class Fnv {
 public:
  void Bytes(std::string_view s) {
    U64(s.size());
    for (unsigned char c : s) Byte(c);
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  uint64_t value() const { return h_; }

 private:
  void Byte(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

void HashMetadata(Fnv& h, const RlsMetadataValue& v) {
  h.U64(static_cast<uint64_t>(v.kind));
  switch (v.kind) {
    case RlsMetadataValue::Kind::kNull:
      break;
    case RlsMetadataValue::Kind::kString:
      h.Bytes(v.string_value);
      break;
    case RlsMetadataValue::Kind::kNumber: {
      uint64_t bits = 0;
      static_assert(sizeof(bits) == sizeof(v.number_value));
      std::memcpy(&bits, &v.number_value, sizeof(bits));
      h.U64(bits);
      break;
    }
    case RlsMetadataValue::Kind::kBool:
      h.U64(v.bool_value ? 1 : 0);
      break;
    case RlsMetadataValue::Kind::kList:
      h.U64(v.list.size());
      for (const RlsMetadataValue& item : v.list) HashMetadata(h, item);
      break;
    case RlsMetadataValue::Kind::kObject:
      h.U64(v.object.size());
      for (const auto& [k, item] : v.object) {
        h.Bytes(k);
        HashMetadata(h, item);
      }
      break;
  }
}

bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

// A metadata scalar as YAML 1.1 (and so upstream) resolves a plain one:
// null, boolean, number or string. Quoted scalars are strings.
RlsMetadataValue MetadataScalar(const YAML::Node& node) {
  RlsMetadataValue v;
  const std::string& s = node.Scalar();
  v.kind = RlsMetadataValue::Kind::kString;
  v.string_value = s;
  if (!IsPlain(node)) return v;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return RlsMetadataValue{};
  }
  for (std::string_view t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (s == t) {
      v.kind = RlsMetadataValue::Kind::kBool;
      v.bool_value = true;
      v.string_value.clear();
      return v;
    }
  }
  for (std::string_view f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (s == f) {
      v.kind = RlsMetadataValue::Kind::kBool;
      v.bool_value = false;
      v.string_value.clear();
      return v;
    }
  }
  // Numbers: an optional sign, digits and at most one '.' / exponent; from_chars
  // does the rest and must consume everything.
  std::string_view text = s;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const bool numeric_start =
      !text.empty() && (std::isdigit(static_cast<unsigned char>(text.front())) || text.front() == '-' ||
                        text.front() == '.');
  if (numeric_start) {
    double d = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(d)) {
      v.kind = RlsMetadataValue::Kind::kNumber;
      v.number_value = d;
      v.string_value.clear();
    }
  }
  return v;
}

Result<RlsMetadataValue> ParseMetadata(const YamlContext& ctx, const YAML::Node& node, int depth) {
  // Deeper than any sensible metadata; keeps a hostile file from recursing far.
  if (depth > 64) return ctx.Error(node, "metadata is nested too deeply");
  RlsMetadataValue v;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return v;
    case YAML::NodeType::Scalar:
      return MetadataScalar(node);
    case YAML::NodeType::Sequence:
      v.kind = RlsMetadataValue::Kind::kList;
      for (auto it = node.begin(); it != node.end(); ++it) {
        SLUICE_ASSIGN_OR_RETURN(RlsMetadataValue item, ParseMetadata(ctx, *it, depth + 1));
        v.list.push_back(std::move(item));
      }
      return v;
    case YAML::NodeType::Map: {
      v.kind = RlsMetadataValue::Kind::kObject;
      std::unordered_set<std::string> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;
        if (!key.IsScalar()) return ctx.Error(key, "a key in metadata is not a string");
        if (!seen.insert(key.Scalar()).second) {
          return ctx.Error(key, fmt::format("field \"{}\" appears twice in metadata", key.Scalar()));
        }
        SLUICE_ASSIGN_OR_RETURN(RlsMetadataValue item, ParseMetadata(ctx, it->second, depth + 1));
        v.object.emplace_back(key.Scalar(), std::move(item));
      }
      return v;
    }
  }
  return v;
}

constexpr std::string_view kTopFields[] = {"domain", "descriptors"};
constexpr std::string_view kDescriptorFields[] = {"key",          "value",           "rate_limit",      "descriptors",
                                                  "shadow_mode",  "detailed_metric", "quota_mode",      "share_threshold",
                                                  "value_to_metric", "metadata"};
constexpr std::string_view kRateLimitFields[] = {"unit", "requests_per_unit", "unlimited", "name",     "replaces",
                                                 "algorithm", "period",         "burst",     "alignment"};
constexpr std::string_view kReplacesFields[] = {"name"};

RlsUnit AlignmentUnit(WindowAlignment a) {
  switch (a) {
    case WindowAlignment::kCalendarDay:
      return RlsUnit::kDay;
    case WindowAlignment::kCalendarWeek:
      return RlsUnit::kWeek;
    case WindowAlignment::kCalendarMonth:
      return RlsUnit::kMonth;
    case WindowAlignment::kCalendarYear:
      return RlsUnit::kYear;
    case WindowAlignment::kEpoch:
      break;
  }
  return RlsUnit::kUnknown;
}

// The standard unit exactly `period` long, or kUnknown.
RlsUnit UnitOfPeriod(std::chrono::nanoseconds period) {
  for (RlsUnit u : {RlsUnit::kSecond, RlsUnit::kMinute, RlsUnit::kHour, RlsUnit::kDay, RlsUnit::kWeek,
                    RlsUnit::kMonth, RlsUnit::kYear}) {
    if (std::chrono::nanoseconds(RlsUnitLength(u)) == period) return u;
  }
  return RlsUnit::kUnknown;
}

}  // namespace

std::string CounterKeyPrefix(std::string_view domain) {
  std::string prefix;
  AppendEscaped(prefix, domain);
  prefix += '_';
  return prefix;
}

struct RuleSet::Impl {
  std::vector<Rule> rules;
  std::vector<Source> sources;
  StringMap<std::unique_ptr<Level>> domains;
  StringMap<size_t> domain_file;  // the file that first named each domain
  uint64_t fingerprint = 0;

  Status LoadFile(size_t file_index, const RuleFile& file, const RuleLoadOptions& options,
                  Clock::Wall loaded_at);
  Status LoadDescriptors(const YamlContext& ctx, size_t file_index, const YAML::Node& list, Level& level,
                         const std::string& domain, const std::string& parent_path, int depth);
  Status CompileRateLimit(const YamlContext& ctx, const YAML::Node& rl, Rule& rule);
  void ComputeFingerprint();
};

Status RuleSet::Impl::LoadFile(size_t file_index, const RuleFile& file, const RuleLoadOptions& options,
                               Clock::Wall loaded_at) {
  const YamlContext ctx{file.name};
  // Nodes are read through const references only: yaml-cpp's non-const
  // operator[] would insert missing keys.
  SLUICE_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(file.contents, ctx));
  if (root.IsNull()) return InvalidArgumentError(fmt::format("{}: config file cannot have empty domain", file.name));
  SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, root, "the top level", kTopFields));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> domain, GetYamlString(ctx, root, "domain"));
  if (!domain.has_value() || domain->empty()) {
    return ctx.Error(root, "config file cannot have empty domain");
  }
  auto [it, inserted] = domains.try_emplace(*domain);
  if (inserted) {
    it->second = std::make_unique<Level>();
    domain_file.emplace(*domain, file_index);
  } else if (!options.merge_domains) {
    return ctx.Error(root["domain"], fmt::format("duplicate domain '{}' in config file (also in {}; enable domain "
                                                 "merging to split a domain over several files)",
                                                 *domain, sources[domain_file.find(*domain)->second].file));
  }
  sources.push_back(Source{file.name, *domain, loaded_at});
  const YAML::Node descriptors = root["descriptors"];
  if (!YamlHas(root, "descriptors")) return Status();
  return LoadDescriptors(ctx, file_index, descriptors, *it->second, *domain, "", 0);
}

Status RuleSet::Impl::LoadDescriptors(const YamlContext& ctx, size_t file_index, const YAML::Node& list,
                                      Level& level, const std::string& domain, const std::string& parent_path,
                                      int depth) {
  if (!list.IsSequence()) return ctx.Error(list, "descriptors must be a list");
  // yaml-cpp's own depth guard stops hostile nesting while parsing; this only
  // keeps the recursion here bounded as well.
  if (depth > 128) return ctx.Error(list, "descriptors are nested too deeply");
  for (auto it = list.begin(); it != list.end(); ++it) {
    const YAML::Node d = *it;
    if (!d.IsMap()) {
      return ctx.Error(d, "config error, yaml file contains list of type other than map in descriptors");
    }
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, d, "a descriptor", kDescriptorFields));
    const int line = d.Mark().line + 1;
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> key, GetYamlString(ctx, d, "key"));
    if (!key.has_value() || key->empty()) return ctx.Error(d, "descriptor has empty key");
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> value_opt, GetYamlString(ctx, d, "value"));
    const std::string value = value_opt.value_or("");
    const std::string final_key = value.empty() ? *key : *key + "_" + value;
    const std::string path = parent_path.empty() ? final_key : parent_path + "." + final_key;

    // The same key and value twice on one level (also across merged files).
    const Node* existing = nullptr;
    if (value.empty()) {
      auto k = level.key_only.find(*key);
      if (k != level.key_only.end()) existing = k->second.get();
    } else {
      auto k = level.by_value.find(*key);
      if (k != level.by_value.end()) {
        auto v = k->second.find(value);
        if (v != k->second.end()) existing = v->second.get();
      }
    }
    if (existing != nullptr) {
      return ctx.Error(d, fmt::format("duplicate descriptor composite key '{}.{}' (first at {}:{})", domain, path,
                                      sources[existing->file].file, existing->line));
    }

    auto node = std::make_unique<Node>();
    node->value = value;
    node->file = file_index;
    node->line = line;
    SLUICE_ASSIGN_OR_RETURN(std::optional<bool> share, GetYamlBool(ctx, d, "share_threshold"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<bool> to_metric, GetYamlBool(ctx, d, "value_to_metric"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<bool> shadow, GetYamlBool(ctx, d, "shadow_mode"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<bool> detailed, GetYamlBool(ctx, d, "detailed_metric"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<bool> quota, GetYamlBool(ctx, d, "quota_mode"));
    node->share_threshold = share.value_or(false);
    node->value_to_metric = to_metric.value_or(false);
    const bool is_wildcard = value.find('*') != std::string::npos;
    if (node->share_threshold && !is_wildcard) {
      return ctx.Error(d, fmt::format("share_threshold can only be used with wildcard values (containing '*'), but "
                                      "found key '{}'",
                                      final_key));
    }

    std::optional<RlsMetadataValue> metadata;
    if (YamlHas(d, "metadata")) {
      const YAML::Node m = d["metadata"];
      if (!m.IsMap()) return ctx.Error(m, "metadata must be a map");
      SLUICE_ASSIGN_OR_RETURN(RlsMetadataValue parsed, ParseMetadata(ctx, m, 0));
      if (!parsed.object.empty()) metadata = std::move(parsed);
    }

    const bool has_rate_limit = YamlHas(d, "rate_limit");
    const YAML::Node children = d["descriptors"];
    const bool has_children_field = YamlHas(d, "descriptors");
    if (has_children_field && !children.IsSequence()) return ctx.Error(children, "descriptors must be a list");
    const bool has_children = has_children_field && children.size() > 0;

    // A descriptor with a rate_limit is a rule; so is one with neither a
    // rate_limit nor children (a whitelist entry). Others only lead deeper.
    if (has_rate_limit || !has_children) {
      Rule rule;
      rule.domain = domain;
      rule.path = path;
      rule.source_file = ctx.file;
      rule.source_line = line;
      rule.shadow_mode = shadow.value_or(false);
      rule.detailed_metric = detailed.value_or(false);
      rule.quota_mode = quota.value_or(false);
      rule.share_threshold = node->share_threshold;
      rule.value_to_metric = node->value_to_metric;
      rule.metadata = std::move(metadata);
      if (has_rate_limit) SLUICE_RETURN_IF_ERROR(CompileRateLimit(ctx, d["rate_limit"], rule));
      node->rule = static_cast<int32_t>(rules.size());
      rules.push_back(std::move(rule));
    }

    if (has_children) {
      node->children = std::make_unique<Level>();
      SLUICE_RETURN_IF_ERROR(
          LoadDescriptors(ctx, file_index, children, *node->children, domain, path, depth + 1));
    }

    const Node* raw = node.get();
    if (value.empty()) {
      level.key_only.emplace(*key, std::move(node));
    } else {
      level.by_value[*key].emplace(value, std::move(node));
      if (is_wildcard) level.wildcards.push_back(Wildcard{*key, SplitOnStar(value), raw});
    }
  }
  return Status();
}

Status RuleSet::Impl::CompileRateLimit(const YamlContext& ctx, const YAML::Node& rl, Rule& rule) {
  SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, rl, "rate_limit", kRateLimitFields));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> unit_name, GetYamlString(ctx, rl, "unit"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<uint32_t> rpu, GetYamlUint32(ctx, rl, "requests_per_unit"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<bool> unlimited, GetYamlBool(ctx, rl, "unlimited"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> name, GetYamlString(ctx, rl, "name"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> algorithm_name, GetYamlString(ctx, rl, "algorithm"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::chrono::nanoseconds> period, GetYamlDuration(ctx, rl, "period"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> burst,
                          GetYamlInt64(ctx, rl, "burst", 1, std::numeric_limits<int64_t>::max()));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> alignment_name, GetYamlString(ctx, rl, "alignment"));

  rule.name = name.value_or("");
  if (YamlHas(rl, "replaces")) {
    const YAML::Node replaces = rl["replaces"];
    if (!replaces.IsSequence()) return ctx.Error(replaces, "replaces must be a list of {name: ...}");
    for (auto it = replaces.begin(); it != replaces.end(); ++it) {
      const YAML::Node entry = *it;
      if (!entry.IsMap()) {
        return ctx.Error(entry, "config error, yaml file contains list of type other than map in replaces");
      }
      SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, entry, "a replaces entry", kReplacesFields));
      SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> target, GetYamlString(ctx, entry, "name"));
      if (!target.has_value() || target->empty()) {
        return ctx.Error(entry, "should not have an empty replaces entry");
      }
      if (*target == rule.name) {
        return ctx.Error(entry, fmt::format("replaces should not contain name of same descriptor ('{}')", *target));
      }
      rule.replaces.push_back(*target);
    }
  }

  std::optional<RlsUnit> unit;
  if (unit_name.has_value() && !unit_name->empty()) {
    unit = ParseRlsUnit(*unit_name);
    if (!unit.has_value()) {
      return ctx.Error(rl["unit"], fmt::format("invalid rate limit unit '{}' (expected second, minute, hour, day, "
                                               "week, month or year)",
                                               *unit_name));
    }
  }

  rule.reported.name = rule.name;
  if (unlimited.value_or(false)) {
    if (unit.has_value()) return ctx.Error(rl["unit"], "should not specify rate limit unit when unlimited");
    for (std::string_view f : {"period", "algorithm", "burst", "alignment"}) {
      if (YamlHas(rl, f)) return ctx.Error(rl[std::string(f)], fmt::format("unlimited takes no {}", f));
    }
    rule.unlimited = true;
    rule.has_limit = true;
    rule.reported.requests_per_unit = rpu.value_or(0);
    return Status();
  }

  Algorithm algorithm = Algorithm::kFixedWindow;
  if (algorithm_name.has_value()) {
    Result<Algorithm> parsed = ParseAlgorithm(*algorithm_name);
    if (!parsed.ok()) return ctx.Error(rl["algorithm"], parsed.status().message());
    algorithm = *parsed;
  }
  WindowAlignment alignment = WindowAlignment::kEpoch;
  if (alignment_name.has_value()) {
    Result<WindowAlignment> parsed = ParseWindowAlignment(*alignment_name);
    if (!parsed.ok()) return ctx.Error(rl["alignment"], parsed.status().message());
    alignment = *parsed;
  }
  const bool calendar = alignment != WindowAlignment::kEpoch;
  const bool refills = algorithm == Algorithm::kTokenBucket || algorithm == Algorithm::kGcra;

  if (unit.has_value() && period.has_value()) return ctx.Error(rl["period"], "give either unit or period, not both");
  if (calendar) {
    if (algorithm != Algorithm::kFixedWindow) {
      return ctx.Error(rl["alignment"], "alignment applies only to the fixed_window algorithm");
    }
    if (period.has_value()) return ctx.Error(rl["period"], "a calendar-aligned window takes no period");
    if (unit.has_value() && *unit != AlignmentUnit(alignment)) {
      return ctx.Error(rl["alignment"], fmt::format("alignment '{}' does not match unit '{}'",
                                                    WindowAlignmentName(alignment), *unit_name));
    }
  } else if (!unit.has_value() && !period.has_value()) {
    return ctx.Error(rl, fmt::format("invalid rate limit unit '{}' (a rate_limit needs a unit, a period or "
                                     "unlimited: true)",
                                     unit_name.value_or("")));
  }
  if (burst.has_value() && !refills) {
    return ctx.Error(rl["burst"], "burst applies only to the token_bucket and gcra algorithms");
  }
  if (!rpu.has_value()) {
    return ctx.Error(rl, "rate_limit needs requests_per_unit (0 denies every request)");
  }
  if (*rpu == 0 && algorithm != Algorithm::kFixedWindow) {
    return ctx.Error(rl["requests_per_unit"],
                     fmt::format("requests_per_unit 0 is only allowed with fixed_window (it denies every request); "
                                 "{} needs at least 1",
                                 AlgorithmName(algorithm)));
  }
  if (period.has_value() && period->count() <= 0) return ctx.Error(rl["period"], "period must be positive");

  const std::chrono::nanoseconds interval =
      unit.has_value() ? std::chrono::nanoseconds(RlsUnitLength(*unit)) : period.value_or(std::chrono::nanoseconds(0));
  const int64_t limit = *rpu;
  Policy policy;
  switch (algorithm) {
    case Algorithm::kFixedWindow:
      policy = calendar ? Policy::CalendarWindow(limit, alignment) : Policy::FixedWindow(limit, interval);
      break;
    case Algorithm::kTokenBucket:
      policy = Policy::TokenBucket(burst.value_or(limit), limit, interval);
      break;
    case Algorithm::kGcra:
      policy = Policy::Gcra(burst.value_or(limit), limit, interval);
      break;
    case Algorithm::kSlidingWindowLog:
      policy = Policy::SlidingWindowLog(limit, interval);
      break;
    case Algorithm::kSlidingWindowCounter:
      policy = Policy::SlidingWindowCounter(limit, interval);
      break;
  }
  if (limit > 0) {
    Status valid = policy.Validate();
    if (!valid.ok()) return ctx.Error(rl, valid.message());
  }
  rule.policy = policy;
  rule.has_limit = true;
  rule.reported.requests_per_unit = *rpu;
  rule.reported.unit = unit.has_value() ? *unit : calendar ? AlignmentUnit(alignment) : UnitOfPeriod(interval);
  return Status();
}

void RuleSet::Impl::ComputeFingerprint() {
  Fnv h;
  h.U64(sources.size());
  for (const Source& s : sources) {
    h.Bytes(s.file);
    h.Bytes(s.domain);
  }
  h.U64(rules.size());
  for (const Rule& r : rules) {
    h.Bytes(r.domain);
    h.Bytes(r.path);
    h.Bytes(r.source_file);
    h.U64(static_cast<uint64_t>(r.source_line));
    h.Bytes(r.name);
    h.U64(r.replaces.size());
    for (const std::string& x : r.replaces) h.Bytes(x);
    h.U64((r.unlimited ? 1u : 0u) | (r.has_limit ? 2u : 0u) | (r.shadow_mode ? 4u : 0u) |
          (r.detailed_metric ? 8u : 0u) | (r.quota_mode ? 16u : 0u) | (r.share_threshold ? 32u : 0u) |
          (r.value_to_metric ? 64u : 0u));
    h.U64(r.policy.Fingerprint());
    h.U64(r.reported.requests_per_unit);
    h.U64(static_cast<uint64_t>(r.reported.unit));
    h.Bytes(r.reported.name);
    h.U64(r.metadata.has_value() ? 1 : 0);
    if (r.metadata.has_value()) HashMetadata(h, *r.metadata);
  }
  fingerprint = h.value();
}

RuleSet::RuleSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuleSet::~RuleSet() = default;

Result<std::shared_ptr<const RuleSet>> RuleSet::LoadFiles(std::span<const RuleFile> files,
                                                          const RuleLoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  const Clock::Wall loaded_at = Clock::Real().WallNow();
  for (size_t i = 0; i < files.size(); ++i) {
    // Source i is pushed by LoadFile once the file's domain is known; nodes
    // refer to their file by that index.
    const size_t index = impl->sources.size();
    Status s = impl->LoadFile(index, files[i], options, loaded_at);
    if (!s.ok()) return s;
  }
  impl->ComputeFingerprint();
  return std::shared_ptr<const RuleSet>(new RuleSet(std::move(impl)));
}

Result<std::shared_ptr<const RuleSet>> RuleSet::LoadDirectory(const std::string& directory,
                                                              const RuleLoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(directory, ec);
  if (ec || !fs::exists(st)) {
    if (!fs::exists(st)) return NotFoundError(fmt::format("{}: no such rules directory", directory));
    return InvalidArgumentError(fmt::format("{}: {}", directory, ec.message()));
  }
  if (!fs::is_directory(st)) return InvalidArgumentError(fmt::format("{}: not a directory", directory));

  std::vector<std::string> names;
  fs::directory_iterator it(directory, ec);
  if (ec) return InvalidArgumentError(fmt::format("{}: cannot list: {}", directory, ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return InvalidArgumentError(fmt::format("{}: cannot list: {}", directory, ec.message()));
    const std::string name = it->path().filename().string();
    // Hidden names are editor lock files and the like (Emacs' ".#x.yaml" is
    // a dangling symlink), never rules.
    if (name.empty() || name.front() == '.') continue;
    const std::string ext = it->path().extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    // Symlinks are followed (Kubernetes mounts ConfigMap files as symlinks).
    // One that leads nowhere fails the load rather than silently dropping
    // its rules: a reload then keeps the rules in effect.
    std::error_code type_ec;
    const fs::file_status target = it->status(type_ec);
    if (fs::is_directory(target)) continue;
    if (type_ec || !fs::is_regular_file(target)) {
      return InvalidArgumentError(fmt::format("{}: not a readable regular file{}", it->path().string(),
                                              type_ec ? ": " + type_ec.message() : std::string()));
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());

  std::vector<RuleFile> files;
  files.reserve(names.size());
  for (const std::string& name : names) {
    RuleFile f;
    f.name = (fs::path(directory) / name).string();
    std::ifstream in(f.name, std::ios::binary);
    if (!in) return InvalidArgumentError(fmt::format("{}: cannot open", f.name));
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) return InvalidArgumentError(fmt::format("{}: read failed", f.name));
    f.contents = contents.str();
    files.push_back(std::move(f));
  }
  return LoadFiles(files, options);
}

std::optional<RuleMatch> RuleSet::Match(std::string_view domain, std::span<const RlsEntry> entries) const {
  auto d = impl_->domains.find(domain);
  if (d == impl_->domains.end() || entries.empty()) return std::nullopt;

  // How each entry was matched, for the metric and counter keys.
  struct Step {
    const Node* node = nullptr;
    bool by_wildcard = false;
    bool by_value = false;
  };
  // Descriptors are short (the service caps their entries); a small vector
  // on the stack would do, but this keeps the code plain.
  std::vector<Step> steps;
  steps.reserve(entries.size());
  const Level* level = d->second.get();
  const Rule* found = nullptr;
  for (size_t i = 0; i < entries.size(); ++i) {
    const RlsEntry& e = entries[i];
    Step step;
    // 1. key and value exactly (a literal value equal to a pattern included).
    if (!e.value.empty()) {
      auto k = level->by_value.find(e.key);
      if (k != level->by_value.end()) {
        auto v = k->second.find(e.value);
        if (v != k->second.end()) {
          step.node = v->second.get();
          step.by_value = true;
        }
      }
    }
    // 2. wildcard values, in file order; the first that matches wins.
    if (step.node == nullptr) {
      for (const Wildcard& w : level->wildcards) {
        if (w.key == e.key && GlobMatch(w.parts, e.value)) {
          step.node = w.node;
          step.by_wildcard = true;
          break;
        }
      }
    }
    // 3. the key alone.
    if (step.node == nullptr) {
      auto k = level->key_only.find(e.key);
      if (k != level->key_only.end()) step.node = k->second.get();
    }
    if (step.node == nullptr) return std::nullopt;
    steps.push_back(step);
    // A limit counts only at the request's own depth.
    if (i + 1 == entries.size() && step.node->rule >= 0) found = &impl_->rules[step.node->rule];
    if (!step.node->HasChildren()) break;
    level = step.node->children.get();
  }
  if (found == nullptr) return std::nullopt;

  RuleMatch match;
  match.rule = found;
  // share_threshold: an entry matched by a sharing wildcard counts under the
  // pattern, so every value it matches shares one counter.
  const auto shared = [&](size_t i) { return steps[i].by_wildcard && steps[i].node->share_threshold; };
  AppendEscaped(match.counter_key, domain);
  for (size_t i = 0; i < entries.size(); ++i) {
    match.counter_key += '_';
    AppendEscaped(match.counter_key, entries[i].key);
    match.counter_key += '_';
    AppendEscaped(match.counter_key, shared(i) ? std::string_view(steps[i].node->value) : entries[i].value);
  }

  std::string& m = match.metric_key;
  const auto append_part = [&m](std::string_view key, std::string_view value, bool underscore_always) {
    if (!m.empty()) m += '.';
    m += key;
    if (underscore_always || !value.empty()) {
      m += '_';
      m += value;
    }
  };
  bool any_shared = false;
  for (size_t i = 0; i < entries.size(); ++i) any_shared = any_shared || shared(i);
  if (found->detailed_metric) {
    // Every request value, or the pattern for shared entries.
    for (size_t i = 0; i < entries.size(); ++i) {
      if (shared(i)) {
        append_part(entries[i].key, steps[i].node->value, true);
      } else {
        append_part(entries[i].key, entries[i].value, !any_shared);
      }
    }
  } else {
    // The rule path, with the request's value where value_to_metric asks for
    // it; a wildcard shows its pattern unless value_to_metric (and not
    // share_threshold) is set.
    for (size_t i = 0; i < entries.size(); ++i) {
      const Step& s = steps[i];
      std::string_view value;
      if (s.by_wildcard) {
        value = (s.node->value_to_metric && !s.node->share_threshold) ? std::string_view(entries[i].value)
                                                                      : std::string_view(s.node->value);
      } else if (s.by_value || s.node->value_to_metric) {
        value = entries[i].value;
      }
      append_part(entries[i].key, value, false);
    }
  }
  return match;
}

bool RuleSet::HasDomain(std::string_view domain) const { return impl_->domains.find(domain) != impl_->domains.end(); }

std::span<const Rule> RuleSet::rules() const { return impl_->rules; }

std::span<const RuleSet::Source> RuleSet::sources() const { return impl_->sources; }

uint64_t RuleSet::fingerprint() const { return impl_->fingerprint; }

}  // namespace sluice::daemon
