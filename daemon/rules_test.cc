// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rules.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using RuleSetPtr = std::shared_ptr<const RuleSet>;

Result<RuleSetPtr> Load(std::string_view yaml, const RuleLoadOptions& options = {}) {
  std::vector<RuleFile> files{{"r.yaml", std::string(yaml)}};
  return RuleSet::LoadFiles(files, options);
}

RuleSetPtr MustLoad(std::string_view yaml, const RuleLoadOptions& options = {}) {
  Result<RuleSetPtr> r = Load(yaml, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : nullptr;
}

// The error of loading `yaml` as r.yaml; OK if it loaded.
Status LoadError(std::string_view yaml) {
  Result<RuleSetPtr> r = Load(yaml);
  return r.ok() ? Status() : r.status();
}

std::optional<RuleMatch> Match(const RuleSet& rules, std::string_view domain,
                               std::initializer_list<std::pair<const char*, const char*>> entries) {
  std::vector<RlsEntry> e;
  for (const auto& [k, v] : entries) e.push_back(RlsEntry{k, v});
  return rules.Match(domain, e);
}

// The path of the rule matched, or "" if none.
std::string MatchedPath(const RuleSet& rules, std::string_view domain,
                        std::initializer_list<std::pair<const char*, const char*>> entries) {
  std::optional<RuleMatch> m = Match(rules, domain, entries);
  return m ? m->rule->path : "";
}

// ---------------------------------------------------------------------------
// Load-time validation: each error is kInvalidArgument and names the file,
// the line and the reason.

void ExpectError(std::string_view yaml, std::string_view prefix, std::string_view reason) {
  Status s = LoadError(yaml);
  ASSERT_FALSE(s.ok()) << "loaded:\n" << yaml;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), StartsWith(std::string(prefix))) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(std::string(reason))) << s.ToString();
}

TEST(RulesValidationTest, EmptyOrMissingDomain) {
  ExpectError("descriptors: []\n", "r.yaml:1: ", "config file cannot have empty domain");
  ExpectError("domain: \"\"\n", "r.yaml:1: ", "config file cannot have empty domain");
  ExpectError("", "r.yaml: ", "config file cannot have empty domain");
  ExpectError("# only a comment\n", "r.yaml: ", "config file cannot have empty domain");
}

TEST(RulesValidationTest, TopLevelMustBeAMap) {
  ExpectError("- domain: x\n", "r.yaml:1: ", "the top level must be a map");
}

TEST(RulesValidationTest, DuplicateDomainAcrossFiles) {
  std::vector<RuleFile> files{{"a.yaml", "domain: d\n"}, {"b.yaml", "\n\ndomain: d\n"}};
  Result<RuleSetPtr> r = RuleSet::LoadFiles(files);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), StartsWith("b.yaml:3: duplicate domain 'd' in config file (also in a.yaml"));
}

TEST(RulesValidationTest, EmptyKey) {
  ExpectError("domain: d\ndescriptors:\n  - value: v\n", "r.yaml:3: ", "descriptor has empty key");
  ExpectError("domain: d\ndescriptors:\n  - key: x\n    descriptors:\n      - key: \"\"\n", "r.yaml:5: ",
              "descriptor has empty key");
}

TEST(RulesValidationTest, DuplicateCompositeKey) {
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    value: v\n"
      "  - key: k\n"
      "    value: v\n",
      "r.yaml:5: ", "duplicate descriptor composite key 'd.k_v' (first at r.yaml:3)");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: a\n"
      "    descriptors:\n"
      "      - key: b\n"
      "      - key: b\n",
      "r.yaml:6: ", "duplicate descriptor composite key 'd.a.b'");
  // The same key with and without a value, or on different levels, is fine.
  EXPECT_TRUE(LoadError("domain: d\n"
                        "descriptors:\n"
                        "  - key: k\n"
                        "  - key: k\n"
                        "    value: v\n"
                        "    descriptors:\n"
                        "      - key: k\n"
                        "        value: v\n")
                  .ok());
}

TEST(RulesValidationTest, InvalidUnit) {
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: fortnight\n"
      "      requests_per_unit: 1\n",
      "r.yaml:5: ", "invalid rate limit unit 'fortnight'");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      requests_per_unit: 1\n",
      "r.yaml:5: ", "invalid rate limit unit ''");
}

TEST(RulesValidationTest, UnlimitedWithUnit) {
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unlimited: true\n"
      "      unit: second\n",
      "r.yaml:6: ", "should not specify rate limit unit when unlimited");
}

TEST(RulesValidationTest, Replaces) {
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: second\n"
      "      requests_per_unit: 1\n"
      "      name: mine\n"
      "      replaces:\n"
      "        - name: \"\"\n",
      "r.yaml:9: ", "should not have an empty replaces entry");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: second\n"
      "      requests_per_unit: 1\n"
      "      name: mine\n"
      "      replaces:\n"
      "        - name: other\n"
      "        - name: mine\n",
      "r.yaml:10: ", "replaces should not contain name of same descriptor ('mine')");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: second\n"
      "      requests_per_unit: 1\n"
      "      replaces: [other]\n",
      "r.yaml:7: ", "list of type other than map in replaces");
}

TEST(RulesValidationTest, ShareThresholdNeedsWildcard) {
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    value: plain\n"
      "    share_threshold: true\n"
      "    rate_limit: {unit: second, requests_per_unit: 1}\n",
      "r.yaml:3: ", "share_threshold can only be used with wildcard values (containing '*'), but found key 'k_plain'");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    share_threshold: true\n",
      "r.yaml:3: ", "share_threshold can only be used with wildcard values");
}

TEST(RulesValidationTest, UnknownAndMisspelledFields) {
  ExpectError("domain: d\ndescriptor: []\n", "r.yaml:2: ",
              "unknown field \"descriptor\" in the top level (expected one of domain, descriptors)");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    shadowmode: true\n", "r.yaml:4: ",
              "unknown field \"shadowmode\" in a descriptor");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: second\n"
      "      requests_per_units: 5\n",
      "r.yaml:6: ", "unknown field \"requests_per_units\" in rate_limit");
  ExpectError(
      "domain: d\n"
      "descriptors:\n"
      "  - key: k\n"
      "    rate_limit:\n"
      "      unit: second\n"
      "      requests_per_unit: 5\n"
      "      replaces:\n"
      "        - nmae: x\n",
      "r.yaml:8: ", "unknown field \"nmae\" in a replaces entry");
  // `unit` belongs in rate_limit, not in the descriptor.
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    unit: second\n", "r.yaml:4: ",
              "unknown field \"unit\" in a descriptor");
}

TEST(RulesValidationTest, NonStringKeys) {
  ExpectError("domain: d\n? [a, b]\n: 1\n", "r.yaml:2: ", "a key in the top level is not a string");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    ? {x: 1}\n    : 2\n", "r.yaml:4: ",
              "a key in a descriptor is not a string");
  // A number as a field name is not a known field either.
  ExpectError("domain: d\n1: x\n", "r.yaml:2: ", "unknown field \"1\" in the top level");
}

TEST(RulesValidationTest, ShapesAndTypes) {
  ExpectError("domain: d\ndescriptors: {key: k}\n", "r.yaml:2: ", "descriptors must be a list");
  ExpectError("domain: d\ndescriptors:\n  - k\n", "r.yaml:3: ", "list of type other than map");
  ExpectError("domain: [a]\n", "r.yaml:1: ", "field \"domain\" must be a string, not a list");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    shadow_mode: maybe\n", "r.yaml:4: ",
              "field \"shadow_mode\" must be true or false");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: -1}\n",
              "r.yaml:4: ", "field \"requests_per_unit\" must be in [0, 4294967295], not -1");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: many}\n",
              "r.yaml:4: ", "field \"requests_per_unit\" must be an integer");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second}\n", "r.yaml:4: ",
              "rate_limit needs requests_per_unit");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    rate_limit: [1]\n", "r.yaml:4: ",
              "rate_limit must be a map");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    metadata: [1]\n", "r.yaml:4: ", "metadata must be a map");
  ExpectError("domain: d\ndescriptors:\n  - key: k\n    metadata:\n      a: 1\n      b: 2\n      a: 3\n", "r.yaml:7: ",
              "field \"a\" appears twice in metadata");
}

TEST(RulesValidationTest, SyntaxErrorHasLineAndColumn) {
  Status s = LoadError("domain: d\ndescriptors:\n  - key: [unclosed\n");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::MatchesRegex("r\\.yaml:[0-9]+:[0-9]+: .+"));
}

TEST(RulesValidationTest, ExtensionErrors) {
  const auto rl = [](std::string_view body) {
    return "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n" + std::string(body);
  };
  ExpectError(rl("      algorithm: leaky\n      unit: second\n      requests_per_unit: 1\n"), "r.yaml:5: ",
              "unknown algorithm \"leaky\"");
  ExpectError(rl("      unit: second\n      requests_per_unit: 1\n      burst: 5\n"), "r.yaml:7: ",
              "burst applies only to the token_bucket and gcra algorithms");
  ExpectError(rl("      algorithm: token_bucket\n      unit: second\n      requests_per_unit: 1\n      alignment: day\n"),
              "r.yaml:8: ", "alignment applies only to the fixed_window algorithm");
  ExpectError(rl("      unit: minute\n      requests_per_unit: 1\n      alignment: month\n"), "r.yaml:7: ",
              "alignment 'month' does not match unit 'minute'");
  ExpectError(rl("      alignment: fortnightly\n      requests_per_unit: 1\n"), "r.yaml:5: ",
              "unknown window alignment \"fortnightly\"");
  ExpectError(rl("      unit: second\n      period: 90s\n      requests_per_unit: 1\n"), "r.yaml:6: ",
              "give either unit or period, not both");
  ExpectError(rl("      period: soon\n      requests_per_unit: 1\n"), "r.yaml:5: ", "field \"period\": ");
  ExpectError(rl("      period: 0s\n      requests_per_unit: 1\n"), "r.yaml:5: ", "period must be positive");
  ExpectError(rl("      unlimited: true\n      algorithm: gcra\n"), "r.yaml:6: ", "unlimited takes no algorithm");
  ExpectError(rl("      algorithm: token_bucket\n      unit: second\n      requests_per_unit: 0\n"), "r.yaml:7: ",
              "requests_per_unit 0 is only allowed with fixed_window");
  ExpectError(rl("      algorithm: gcra\n      unit: second\n      requests_per_unit: 5\n      burst: 0\n"),
              "r.yaml:8: ", "field \"burst\" must be in [1, ");
  // The algorithm's own validation: a sliding log keeps one entry a request.
  ExpectError(rl("      algorithm: sliding_window_log\n      unit: hour\n      requests_per_unit: 1000000\n"),
              "r.yaml:5: ", "exceeds the sliding log cap");
}

TEST(RulesValidationTest, NothingIsHalfLoaded) {
  std::vector<RuleFile> files{
      {"good.yaml", "domain: good\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n"},
      {"bad.yaml", "domain: bad\ndescriptors:\n  - key: k\n    rate_limit: {unit: eon, requests_per_unit: 1}\n"}};
  Result<RuleSetPtr> r = RuleSet::LoadFiles(files);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith("bad.yaml:4: invalid rate limit unit 'eon'"));
}

// ---------------------------------------------------------------------------
// Matching.

constexpr std::string_view kMessaging = R"(
domain: messaging
descriptors:
  # Only 5 marketing messages a day to each number.
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5
  # 100 messages a day to any number.
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
)";

TEST(RulesMatchTest, NestedAndDepth) {
  RuleSetPtr rules = MustLoad(kMessaging);
  ASSERT_NE(rules, nullptr);
  std::optional<RuleMatch> m = Match(*rules, "messaging", {{"message_type", "marketing"}, {"to_number", "2061111111"}});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->rule->path, "message_type_marketing.to_number");
  EXPECT_EQ(m->rule->reported.requests_per_unit, 5u);
  EXPECT_EQ(m->rule->reported.unit, RlsUnit::kDay);
  EXPECT_EQ(m->rule->domain, "messaging");
  EXPECT_EQ(m->rule->source_file, "r.yaml");
  EXPECT_EQ(m->rule->source_line, 8);

  EXPECT_EQ(MatchedPath(*rules, "messaging", {{"to_number", "2061111111"}}), "to_number");
  // The intermediate level has no limit of its own.
  EXPECT_FALSE(Match(*rules, "messaging", {{"message_type", "marketing"}}).has_value());
  // Another message type has no nested rules.
  EXPECT_FALSE(Match(*rules, "messaging", {{"message_type", "other"}, {"to_number", "1"}}).has_value());
  // Deeper than the configuration.
  EXPECT_FALSE(Match(*rules, "messaging", {{"to_number", "1"}, {"x", "y"}}).has_value());
  EXPECT_FALSE(
      Match(*rules, "messaging", {{"message_type", "marketing"}, {"to_number", "1"}, {"x", "y"}}).has_value());
  // Unknown domain, unknown key, no entries.
  EXPECT_FALSE(Match(*rules, "other", {{"to_number", "1"}}).has_value());
  EXPECT_FALSE(Match(*rules, "messaging", {{"from_number", "1"}}).has_value());
  EXPECT_FALSE(rules->Match("messaging", {}).has_value());
  EXPECT_TRUE(rules->HasDomain("messaging"));
  EXPECT_FALSE(rules->HasDomain("other"));
}

TEST(RulesMatchTest, KeyValueBeforeWildcardBeforeKey) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: k
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: k
    value: foo*
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: k
    value: foobar
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: k
    value: f*
    rate_limit: {unit: second, requests_per_unit: 4}
)");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", "foobar"}}), "k_foobar");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", "foobaz"}}), "k_foo*");  // first wildcard in file order
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", "fa"}}), "k_f*");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", "x"}}), "k");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", ""}}), "k");
  // A literal value equal to the pattern is a key/value match.
  EXPECT_EQ(MatchedPath(*rules, "d", {{"k", "foo*"}}), "k_foo*");
}

TEST(RulesMatchTest, KeyValueMatchDoesNotFallBackToKey) {
  // Upstream: once key_value matched, the key-only rule is not tried, so a
  // whitelisted value is never limited by the default.
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: bar
    rate_limit: {unit: minute, requests_per_unit: 10}
  - key: bar
    value: trusted
)");
  ASSERT_NE(rules, nullptr);
  std::optional<RuleMatch> m = Match(*rules, "d", {{"bar", "trusted"}});
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->rule->has_limit);
  EXPECT_FALSE(m->rule->unlimited);
  EXPECT_EQ(m->rule->path, "bar_trusted");
  EXPECT_TRUE(Match(*rules, "d", {{"bar", "other"}})->rule->has_limit);
}

TEST(RulesMatchTest, Wildcards) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: wild
    value: foo*
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: midWild
    value: bar*b
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: multi
    value: svc*ep*rpc
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: any
    value: "*"
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: lead
    value: "*.example.com"
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: a
    value: b*
    rate_limit: {unit: minute, requests_per_unit: 20}
)");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(MatchedPath(*rules, "d", {{"wild", "foo"}}), "wild_foo*");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"wild", "foo123"}}), "wild_foo*");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"wild", "fo"}}), "");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"midWild", "barb"}}), "midWild_bar*b");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"midWild", "bar-xyz-b"}}), "midWild_bar*b");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"midWild", "bar-xyz-bc"}}), "");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"midWild", "bab"}}), "");  // prefix and suffix may not overlap
  EXPECT_EQ(MatchedPath(*rules, "d", {{"multi", "svc1ep2rpc"}}), "multi_svc*ep*rpc");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"multi", "svceprpc"}}), "multi_svc*ep*rpc");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"multi", "svc1rpc"}}), "");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"multi", "svc-rpc-ep"}}), "");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"any", ""}}), "any_*");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"any", "anything"}}), "any_*");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"lead", "x.example.com"}}), "lead_*.example.com");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"lead", "example.com"}}), "");
  // Keys are compared whole: key "a_b" is not key "a" with a value "b...".
  EXPECT_EQ(MatchedPath(*rules, "d", {{"a_b", "x"}}), "");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"a", "bx"}}), "a_b*");
}

TEST(RulesMatchTest, WildcardWithNestedDescriptors) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: path
    value: /api/*
    descriptors:
      - key: method
        value: GET
        rate_limit: {unit: second, requests_per_unit: 7}
)");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(MatchedPath(*rules, "d", {{"path", "/api/x"}, {"method", "GET"}}), "path_/api/*.method_GET");
  EXPECT_EQ(MatchedPath(*rules, "d", {{"path", "/api/x"}, {"method", "PUT"}}), "");
}

TEST(RulesMatchTest, WhitelistAndUnlimited) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: remote_address
    value: 10.0.0.1
  - key: remote_address
    value: 10.0.0.2
    rate_limit:
      unlimited: true
  - key: remote_address
    rate_limit: {unit: second, requests_per_unit: 10}
  - key: empty_children
    descriptors: []
)");
  ASSERT_NE(rules, nullptr);
  std::optional<RuleMatch> white = Match(*rules, "d", {{"remote_address", "10.0.0.1"}});
  ASSERT_TRUE(white.has_value());
  EXPECT_FALSE(white->rule->has_limit);
  EXPECT_FALSE(white->rule->unlimited);

  std::optional<RuleMatch> unlimited = Match(*rules, "d", {{"remote_address", "10.0.0.2"}});
  ASSERT_TRUE(unlimited.has_value());
  EXPECT_TRUE(unlimited->rule->unlimited);
  EXPECT_TRUE(unlimited->rule->has_limit);
  EXPECT_EQ(unlimited->rule->reported.unit, RlsUnit::kUnknown);

  std::optional<RuleMatch> limited = Match(*rules, "d", {{"remote_address", "10.0.0.3"}});
  ASSERT_TRUE(limited.has_value());
  EXPECT_TRUE(limited->rule->has_limit);
  EXPECT_FALSE(limited->rule->unlimited);
  EXPECT_EQ(limited->rule->policy, Policy::FixedWindow(10, std::chrono::seconds(1)));

  // `descriptors: []` has no children: a whitelist entry.
  std::optional<RuleMatch> empty = Match(*rules, "d", {{"empty_children", "x"}});
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->rule->has_limit);

  // rules() lists every rule, whitelist entries too, in file order.
  std::vector<std::string> paths;
  for (const Rule& r : rules->rules()) paths.push_back(r.path);
  EXPECT_THAT(paths, ElementsAre("remote_address_10.0.0.1", "remote_address_10.0.0.2", "remote_address",
                                 "empty_children"));
}

TEST(RulesMatchTest, FlagsNamesAndReplaces) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: k
    shadow_mode: true
    quota_mode: true
    rate_limit:
      name: specific
      replaces:
        - name: general
        - name: other
      unit: HOUR
      requests_per_unit: 3
)");
  ASSERT_NE(rules, nullptr);
  const Rule& r = *Match(*rules, "d", {{"k", "v"}})->rule;
  EXPECT_TRUE(r.shadow_mode);
  EXPECT_TRUE(r.quota_mode);
  EXPECT_FALSE(r.detailed_metric);
  EXPECT_EQ(r.name, "specific");
  EXPECT_THAT(r.replaces, ElementsAre("general", "other"));
  EXPECT_EQ(r.reported.name, "specific");
  EXPECT_EQ(r.reported.unit, RlsUnit::kHour);
  EXPECT_EQ(r.policy, Policy::FixedWindow(3, std::chrono::hours(1)));
}

TEST(RulesMatchTest, UnitsAreEpochAlignedFixedWindows) {
  struct Case {
    const char* unit;
    RlsUnit expected;
    std::chrono::seconds window;
  };
  const Case cases[] = {
      {"second", RlsUnit::kSecond, std::chrono::seconds(1)},
      {"Minute", RlsUnit::kMinute, std::chrono::seconds(60)},
      {"hour", RlsUnit::kHour, std::chrono::seconds(3600)},
      {"DAY", RlsUnit::kDay, std::chrono::seconds(86400)},
      {"week", RlsUnit::kWeek, std::chrono::seconds(7 * 86400)},
      {"month", RlsUnit::kMonth, std::chrono::seconds(30 * 86400)},
      {"year", RlsUnit::kYear, std::chrono::seconds(365 * 86400)},
  };
  for (const Case& c : cases) {
    RuleSetPtr rules = MustLoad("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: " + std::string(c.unit) +
                                ", requests_per_unit: 9}\n");
    ASSERT_NE(rules, nullptr) << c.unit;
    const Rule& r = rules->rules()[0];
    EXPECT_EQ(r.reported.unit, c.expected) << c.unit;
    EXPECT_EQ(r.reported.requests_per_unit, 9u);
    EXPECT_EQ(r.policy.algorithm, Algorithm::kFixedWindow);
    EXPECT_EQ(r.policy.alignment, WindowAlignment::kEpoch);
    EXPECT_EQ(r.policy.interval, std::chrono::nanoseconds(c.window)) << c.unit;
    EXPECT_EQ(r.policy.limit, 9);
  }
}

TEST(RulesMatchTest, ZeroRequestsPerUnitBans) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: bar
    value: banned
    rate_limit: {unit: minute, requests_per_unit: 0}
)");
  ASSERT_NE(rules, nullptr);
  const Rule& r = *Match(*rules, "d", {{"bar", "banned"}})->rule;
  EXPECT_TRUE(r.has_limit);
  EXPECT_EQ(r.policy.limit, 0);
  EXPECT_EQ(r.reported.requests_per_unit, 0u);
  EXPECT_EQ(r.reported.unit, RlsUnit::kMinute);
}

// ---------------------------------------------------------------------------
// Counter keys.

TEST(RulesCounterKeyTest, StartsWithDomainAndHoldsEveryEntry) {
  RuleSetPtr rules = MustLoad(kMessaging);
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(Match(*rules, "messaging", {{"message_type", "marketing"}, {"to_number", "42"}})->counter_key,
            "messaging_message\\_type_marketing_to\\_number_42");
  EXPECT_EQ(Match(*rules, "messaging", {{"to_number", "42"}})->counter_key, "messaging_to\\_number_42");
  // Each value has its own counter.
  EXPECT_NE(Match(*rules, "messaging", {{"to_number", "42"}})->counter_key,
            Match(*rules, "messaging", {{"to_number", "43"}})->counter_key);
}

TEST(RulesCounterKeyTest, Unambiguous) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: a_b
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1}
    descriptors:
      - key: b_c
        rate_limit: {unit: second, requests_per_unit: 1}
      - key: b
        rate_limit: {unit: second, requests_per_unit: 1}
)");
  ASSERT_NE(rules, nullptr);
  const std::string k1 = Match(*rules, "d", {{"a_b", "c"}})->counter_key;
  const std::string k2 = Match(*rules, "d", {{"a", "b_c"}})->counter_key;
  EXPECT_NE(k1, k2);
  EXPECT_EQ(k1, "d_a\\_b_c");
  EXPECT_EQ(k2, "d_a_b\\_c");
  const std::string k3 = Match(*rules, "d", {{"a", "x"}, {"b_c", "y"}})->counter_key;
  const std::string k4 = Match(*rules, "d", {{"a", "x_b"}, {"c", "y"}}).has_value()
                             ? Match(*rules, "d", {{"a", "x_b"}, {"c", "y"}})->counter_key
                             : "";
  EXPECT_NE(k3, k4);
  const std::string k5 = Match(*rules, "d", {{"a", "x"}, {"b", "c_y"}})->counter_key;
  EXPECT_NE(k3, k5);
  // Backslashes are escaped too.
  EXPECT_NE(Match(*rules, "d", {{"a", "x\\"}})->counter_key, Match(*rules, "d", {{"a", "x"}})->counter_key);
  EXPECT_EQ(Match(*rules, "d", {{"a", "x\\_"}})->counter_key, "d_a_x\\\\\\_");
}

TEST(RulesCounterKeyTest, ShareThreshold) {
  RuleSetPtr rules = MustLoad(R"(
domain: test-domain
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 100}
  - key: own
    value: own/*
    rate_limit: {unit: minute, requests_per_unit: 100}
  - key: user
    value: user/*
    share_threshold: true
    descriptors:
      - key: resource
        value: res/*
        share_threshold: false
        descriptors:
          - key: action
            rate_limit: {unit: minute, requests_per_unit: 150}
)");
  ASSERT_NE(rules, nullptr);
  std::optional<RuleMatch> a = Match(*rules, "test-domain", {{"files", "files/a.pdf"}});
  std::optional<RuleMatch> b = Match(*rules, "test-domain", {{"files", "files/b.csv"}});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->counter_key, b->counter_key);
  EXPECT_EQ(a->counter_key, "test-domain_files_files/*");
  EXPECT_TRUE(a->rule->share_threshold);

  // Without share_threshold each value counts alone.
  EXPECT_NE(Match(*rules, "test-domain", {{"own", "own/a"}})->counter_key,
            Match(*rules, "test-domain", {{"own", "own/b"}})->counter_key);

  // Nested: only the sharing level is replaced by its pattern.
  std::optional<RuleMatch> n1 =
      Match(*rules, "test-domain", {{"user", "user/1"}, {"resource", "res/x"}, {"action", "read"}});
  std::optional<RuleMatch> n2 =
      Match(*rules, "test-domain", {{"user", "user/2"}, {"resource", "res/x"}, {"action", "read"}});
  std::optional<RuleMatch> n3 =
      Match(*rules, "test-domain", {{"user", "user/2"}, {"resource", "res/y"}, {"action", "read"}});
  ASSERT_TRUE(n1 && n2 && n3);
  EXPECT_EQ(n1->counter_key, n2->counter_key);
  EXPECT_NE(n2->counter_key, n3->counter_key);
  EXPECT_EQ(n1->counter_key, "test-domain_user_user/*_resource_res/x_action_read");
}

// ---------------------------------------------------------------------------
// Metric keys.

TEST(RulesMetricKeyTest, PlainRulesUseThePath) {
  RuleSetPtr rules = MustLoad(kMessaging);
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(Match(*rules, "messaging", {{"message_type", "marketing"}, {"to_number", "42"}})->metric_key,
            "message_type_marketing.to_number");
  EXPECT_EQ(Match(*rules, "messaging", {{"to_number", "42"}})->metric_key, "to_number");
}

TEST(RulesMetricKeyTest, DetailedMetric) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: route
    descriptors:
      - key: user
        detailed_metric: true
        rate_limit: {unit: minute, requests_per_unit: 60}
  - key: solo
    detailed_metric: true
    rate_limit: {unit: minute, requests_per_unit: 60}
)");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(Match(*rules, "d", {{"route", "/a"}, {"user", "u1"}})->metric_key, "route_/a.user_u1");
  // Upstream writes key_value for every entry, also an empty value.
  EXPECT_EQ(Match(*rules, "d", {{"solo", ""}})->metric_key, "solo_");
  EXPECT_EQ(Match(*rules, "d", {{"solo", "v"}})->metric_key, "solo_v");
  EXPECT_TRUE(Match(*rules, "d", {{"solo", "v"}})->rule->detailed_metric);
}

TEST(RulesMetricKeyTest, ValueToMetric) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: route
    value_to_metric: true
    descriptors:
      - key: http_method
        value_to_metric: true
        descriptors:
          - key: user_id
            rate_limit: {unit: minute, requests_per_unit: 60}
  - key: wild
    value: foo*
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: wild2
    value: foo*
    value_to_metric: true
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: exact
    value: v
    rate_limit: {unit: minute, requests_per_unit: 20}
)");
  ASSERT_NE(rules, nullptr);
  // Only the levels asking for it show their value.
  EXPECT_EQ(Match(*rules, "d", {{"route", "/orders"}, {"http_method", "GET"}, {"user_id", "42"}})->metric_key,
            "route_/orders.http_method_GET.user_id");
  EXPECT_TRUE(Match(*rules, "d", {{"route", "/orders"}, {"http_method", "GET"}, {"user_id", "42"}})
                  ->rule->path == "route.http_method.user_id");
  // A wildcard shows its pattern, or with value_to_metric the value.
  EXPECT_EQ(Match(*rules, "d", {{"wild", "foobar"}})->metric_key, "wild_foo*");
  EXPECT_EQ(Match(*rules, "d", {{"wild2", "foobar"}})->metric_key, "wild2_foobar");
  EXPECT_EQ(Match(*rules, "d", {{"exact", "v"}})->metric_key, "exact_v");
}

TEST(RulesMetricKeyTest, ShareThresholdShowsThePattern) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: route
    value: api/*
    share_threshold: true
    value_to_metric: true
    descriptors:
      - key: method
        rate_limit: {unit: minute, requests_per_unit: 60}
  - key: service
    value: svc/*
    share_threshold: true
    descriptors:
      - key: endpoint
        detailed_metric: true
        rate_limit: {unit: minute, requests_per_unit: 80}
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 100}
)");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(Match(*rules, "d", {{"route", "api/users"}, {"method", "GET"}})->metric_key, "route_api/*.method");
  EXPECT_EQ(Match(*rules, "d", {{"service", "svc/a"}, {"endpoint", "/x"}})->metric_key, "service_svc/*.endpoint_/x");
  EXPECT_EQ(Match(*rules, "d", {{"files", "files/a"}})->metric_key, "files_files/*");
}

// ---------------------------------------------------------------------------
// Metadata.

TEST(RulesMetadataTest, CopiedWithTypes) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: k
    metadata:
      name: service_1
      count: 3
      ratio: 0.5
      enabled: true
      quoted: "true"
      nothing: ~
      list: [a, 1]
      nested: {x: y}
    rate_limit: {unit: second, requests_per_unit: 5}
  - key: plain
    rate_limit: {unit: second, requests_per_unit: 5}
)");
  ASSERT_NE(rules, nullptr);
  const std::optional<RlsMetadataValue>& md = Match(*rules, "d", {{"k", "v"}})->rule->metadata;
  ASSERT_TRUE(md.has_value());
  ASSERT_EQ(md->kind, RlsMetadataValue::Kind::kObject);
  ASSERT_EQ(md->object.size(), 8u);
  using Kind = RlsMetadataValue::Kind;
  EXPECT_EQ(md->object[0].first, "name");
  EXPECT_EQ(md->object[0].second.kind, Kind::kString);
  EXPECT_EQ(md->object[0].second.string_value, "service_1");
  EXPECT_EQ(md->object[1].second.kind, Kind::kNumber);
  EXPECT_EQ(md->object[1].second.number_value, 3);
  EXPECT_EQ(md->object[2].second.number_value, 0.5);
  EXPECT_EQ(md->object[3].second.kind, Kind::kBool);
  EXPECT_TRUE(md->object[3].second.bool_value);
  EXPECT_EQ(md->object[4].second.kind, Kind::kString);
  EXPECT_EQ(md->object[5].second.kind, Kind::kNull);
  ASSERT_EQ(md->object[6].second.kind, Kind::kList);
  ASSERT_EQ(md->object[6].second.list.size(), 2u);
  EXPECT_EQ(md->object[6].second.list[1].kind, Kind::kNumber);
  ASSERT_EQ(md->object[7].second.kind, Kind::kObject);
  EXPECT_EQ(md->object[7].second.object[0].second.string_value, "y");
  EXPECT_FALSE(Match(*rules, "d", {{"plain", "v"}})->rule->metadata.has_value());
}

// ---------------------------------------------------------------------------
// sluice extensions.

TEST(RulesExtensionsTest, Algorithms) {
  RuleSetPtr rules = MustLoad(R"(
domain: d
descriptors:
  - key: tb
    rate_limit: {algorithm: token_bucket, unit: second, requests_per_unit: 20, burst: 100}
  - key: tb_default_burst
    rate_limit: {algorithm: token_bucket, unit: minute, requests_per_unit: 30}
  - key: gcra
    rate_limit: {algorithm: gcra, period: 90s, requests_per_unit: 3, burst: 5}
  - key: swc
    rate_limit: {algorithm: sliding_window, unit: hour, requests_per_unit: 50}
  - key: swl
    rate_limit: {algorithm: sliding_window_log, period: 1m, requests_per_unit: 10}
  - key: fw_period
    rate_limit: {period: 90s, requests_per_unit: 7}
  - key: calendar
    rate_limit: {alignment: month, requests_per_unit: 1000}
  - key: calendar_unit
    rate_limit: {unit: day, alignment: day, requests_per_unit: 10}
  - key: epoch
    rate_limit: {unit: day, alignment: epoch, requests_per_unit: 10}
)");
  ASSERT_NE(rules, nullptr);
  const auto rule = [&](const char* key) { return *Match(*rules, "d", {{key, "v"}})->rule; };
  EXPECT_EQ(rule("tb").policy, Policy::TokenBucket(100, 20, std::chrono::seconds(1)));
  EXPECT_EQ(rule("tb").reported.requests_per_unit, 20u);
  EXPECT_EQ(rule("tb").reported.unit, RlsUnit::kSecond);
  EXPECT_EQ(rule("tb_default_burst").policy, Policy::TokenBucket(30, 30, std::chrono::minutes(1)));
  EXPECT_EQ(rule("gcra").policy, Policy::Gcra(5, 3, std::chrono::seconds(90)));
  EXPECT_EQ(rule("gcra").reported.unit, RlsUnit::kUnknown);  // 90s is no standard unit
  EXPECT_EQ(rule("gcra").reported.requests_per_unit, 3u);
  EXPECT_EQ(rule("swc").policy, Policy::SlidingWindowCounter(50, std::chrono::hours(1)));
  EXPECT_EQ(rule("swl").policy, Policy::SlidingWindowLog(10, std::chrono::minutes(1)));
  EXPECT_EQ(rule("swl").reported.unit, RlsUnit::kMinute);  // a period of exactly one unit
  EXPECT_EQ(rule("fw_period").policy, Policy::FixedWindow(7, std::chrono::seconds(90)));
  EXPECT_EQ(rule("calendar").policy, Policy::CalendarWindow(1000, WindowAlignment::kCalendarMonth));
  EXPECT_EQ(rule("calendar").reported.unit, RlsUnit::kMonth);
  EXPECT_EQ(rule("calendar_unit").policy, Policy::CalendarWindow(10, WindowAlignment::kCalendarDay));
  EXPECT_EQ(rule("epoch").policy, Policy::FixedWindow(10, std::chrono::hours(24)));
}

// ---------------------------------------------------------------------------
// Several files: merging, sources, fingerprints.

TEST(RulesFilesTest, MergeDomains) {
  std::vector<RuleFile> files{
      {"a.yaml", "domain: d\ndescriptors:\n  - key: x\n    rate_limit: {unit: second, requests_per_unit: 1}\n"},
      {"b.yaml", "domain: d\ndescriptors:\n  - key: y\n    rate_limit: {unit: second, requests_per_unit: 2}\n"},
      {"c.yaml", "domain: e\n"}};
  EXPECT_FALSE(RuleSet::LoadFiles(files).ok());  // off by default

  Result<RuleSetPtr> merged = RuleSet::LoadFiles(files, RuleLoadOptions{.merge_domains = true});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  const RuleSet& rules = **merged;
  ASSERT_EQ(rules.sources().size(), 3u);
  EXPECT_EQ(rules.sources()[0].file, "a.yaml");
  EXPECT_EQ(rules.sources()[1].file, "b.yaml");
  EXPECT_EQ(rules.sources()[1].domain, "d");
  EXPECT_EQ(rules.sources()[2].domain, "e");
  EXPECT_EQ(Match(rules, "d", {{"x", "1"}})->rule->source_file, "a.yaml");
  EXPECT_EQ(Match(rules, "d", {{"y", "1"}})->rule->source_file, "b.yaml");
  EXPECT_TRUE(rules.HasDomain("e"));  // a domain without descriptors exists

  // A descriptor repeated in another file of the same domain is a duplicate.
  std::vector<RuleFile> dup{
      {"a.yaml", "domain: d\ndescriptors:\n  - key: x\n"},
      {"b.yaml", "domain: d\ndescriptors:\n  - key: y\n  - key: x\n"}};
  Result<RuleSetPtr> r = RuleSet::LoadFiles(dup, RuleLoadOptions{.merge_domains = true});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith("b.yaml:4: duplicate descriptor composite key 'd.x' (first at a.yaml:3)"));
}

TEST(RulesFilesTest, Fingerprint) {
  constexpr std::string_view kA =
      "domain: d\ndescriptors:\n  - key: x\n    rate_limit: {unit: second, requests_per_unit: 1}\n";
  RuleSetPtr a1 = MustLoad(kA);
  RuleSetPtr a2 = MustLoad(kA);
  RuleSetPtr b = MustLoad("domain: d\ndescriptors:\n  - key: x\n    rate_limit: {unit: second, requests_per_unit: 2}\n");
  RuleSetPtr c = MustLoad(
      "domain: d\ndescriptors:\n  - key: x\n    shadow_mode: true\n    rate_limit: {unit: second, requests_per_unit: "
      "1}\n");
  RuleSetPtr e = MustLoad("domain: d\n");
  ASSERT_TRUE(a1 && a2 && b && c && e);
  EXPECT_EQ(a1->fingerprint(), a2->fingerprint());
  EXPECT_NE(a1->fingerprint(), b->fingerprint());
  EXPECT_NE(a1->fingerprint(), c->fingerprint());
  EXPECT_NE(a1->fingerprint(), e->fingerprint());
  EXPECT_TRUE(e->rules().empty());
}

// ---------------------------------------------------------------------------
// LoadDirectory.

class RulesDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "rules_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, std::string_view contents) {
    std::ofstream(dir_ + "/" + name) << contents;
  }
  std::string dir_;
};

TEST_F(RulesDirectoryTest, LoadsYamlAndYmlSorted) {
  Write("b.yml", "domain: b\n");
  Write("a.yaml", "domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n");
  Write("c.txt", "not: rules\n");
  Write(".hidden.yaml", "domain: hidden\n");
  Write("README", "text");
  std::filesystem::create_directories(dir_ + "/sub.yaml");
  Write("sub.yaml/x.yaml", "domain: nested\n");
  Result<RuleSetPtr> r = RuleSet::LoadDirectory(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> files;
  for (const RuleSet::Source& s : (*r)->sources()) files.push_back(s.file);
  EXPECT_THAT(files, ElementsAre(dir_ + "/a.yaml", dir_ + "/b.yml"));
  EXPECT_TRUE((*r)->HasDomain("a"));
  EXPECT_TRUE((*r)->HasDomain("b"));
  EXPECT_FALSE((*r)->HasDomain("hidden"));
  EXPECT_FALSE((*r)->HasDomain("nested"));
  EXPECT_EQ((*r)->rules()[0].source_file, dir_ + "/a.yaml");
  const auto loaded = (*r)->sources()[0].loaded_at;
  EXPECT_GT(loaded.time_since_epoch().count(), 0);
}

TEST_F(RulesDirectoryTest, ErrorsNameThePath) {
  Write("a.yaml", "domain: a\n");
  Write("b.yaml", "domain: b\ndescriptors:\n  - key: k\n    rate_limit: {unit: lightyear, requests_per_unit: 1}\n");
  Result<RuleSetPtr> r = RuleSet::LoadDirectory(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), StartsWith(dir_ + "/b.yaml:4: invalid rate limit unit 'lightyear'"));

  Write("c.yaml", "domain: a\n");
  std::filesystem::remove(dir_ + "/b.yaml");
  r = RuleSet::LoadDirectory(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith(dir_ + "/c.yaml:1: duplicate domain 'a'"));
}

TEST_F(RulesDirectoryTest, SymlinksAreFollowed) {
  // A Kubernetes ConfigMap volume: files are symlinks through "..data".
  std::filesystem::create_directories(dir_ + "/..2026_12_01/");
  Write("..2026_12_01/api.yaml", "domain: api\n");
  std::filesystem::create_directory_symlink("..2026_12_01", dir_ + "/..data");
  std::filesystem::create_symlink("..data/api.yaml", dir_ + "/api.yaml");
  // An editor's lock file: a dangling symlink with a hidden name.
  std::filesystem::create_symlink("nobody@host.1234", dir_ + "/.#api.yaml");
  Result<RuleSetPtr> r = RuleSet::LoadDirectory(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)->sources().size(), 1u);
  EXPECT_EQ((*r)->sources()[0].file, dir_ + "/api.yaml");
  EXPECT_TRUE((*r)->HasDomain("api"));

  // A visible rule file that leads nowhere fails the load.
  std::filesystem::create_symlink("missing.yaml", dir_ + "/broken.yaml");
  r = RuleSet::LoadDirectory(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), StartsWith(dir_ + "/broken.yaml: not a readable regular file"));
}

TEST_F(RulesDirectoryTest, EmptyMissingAndNotADirectory) {
  Result<RuleSetPtr> empty = RuleSet::LoadDirectory(dir_);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->rules().empty());
  EXPECT_TRUE((*empty)->sources().empty());
  EXPECT_FALSE((*empty)->HasDomain("x"));

  Result<RuleSetPtr> missing = RuleSet::LoadDirectory(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope"));

  Write("file.yaml", "domain: x\n");
  Result<RuleSetPtr> file = RuleSet::LoadDirectory(dir_ + "/file.yaml");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("not a directory"));
}

// ---------------------------------------------------------------------------
// The example rule files.

TEST(RulesExamplesTest, ExampleRulesLoadAndMatch) {
  Result<RuleSetPtr> r = RuleSet::LoadDirectory(std::string(SLUICE_SOURCE_DIR) + "/examples/rules");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RuleSet& rules = **r;

  // The README's demo: 5 a minute per user, a plain fixed window.
  std::optional<RuleMatch> user = Match(rules, "example", {{"user", "alice"}});
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->rule->policy, Policy::FixedWindow(5, std::chrono::minutes(1)));
  EXPECT_EQ(user->rule->reported.unit, RlsUnit::kMinute);
  EXPECT_EQ(user->rule->reported.requests_per_unit, 5u);
  EXPECT_FALSE(user->rule->shadow_mode);

  // api.yaml shows each feature.
  EXPECT_EQ(Match(rules, "api", {{"remote_address", "192.0.2.1"}})->rule->policy,
            Policy::FixedWindow(100, std::chrono::seconds(1)));
  EXPECT_TRUE(Match(rules, "api", {{"remote_address", "203.0.113.10"}})->rule->unlimited);
  EXPECT_FALSE(Match(rules, "api", {{"header_match", "health_check"}})->rule->has_limit);
  EXPECT_EQ(
      Match(rules, "api", {{"route", "orders"}, {"method", "POST"}, {"remote_address", "192.0.2.1"}})->rule->name,
      "orders_write");
  EXPECT_EQ(Match(rules, "api", {{"route", "orders"}, {"method", "GET"}})->rule->reported.requests_per_unit, 50u);
  EXPECT_EQ(Match(rules, "api", {{"path", "/files/a"}})->counter_key,
            Match(rules, "api", {{"path", "/files/b"}})->counter_key);
  EXPECT_TRUE(Match(rules, "api", {{"api_key", "k1"}})->rule->shadow_mode);
  EXPECT_EQ(Match(rules, "api", {{"tenant", "t1"}})->rule->policy,
            Policy::TokenBucket(100, 20, std::chrono::seconds(1)));
  EXPECT_EQ(Match(rules, "api", {{"generic_key", "exports"}})->rule->policy,
            Policy::CalendarWindow(1000, WindowAlignment::kCalendarMonth));
  EXPECT_TRUE(Match(rules, "api", {{"generic_key", "exports"}})->rule->metadata.has_value());
}

}  // namespace
}  // namespace sluice::daemon
