// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/yaml_util.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;

YAML::Node Parse(std::string_view text) {
  Result<YAML::Node> node = ParseYaml(text, YamlContext{"t.yaml"});
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? *node : YAML::Node();
}

TEST(YamlUtilTest, SyntaxErrorNamesFileLineAndColumn) {
  Result<YAML::Node> node = ParseYaml("a: 1\nb: [1, 2\n", YamlContext{"conf.yaml"});
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(node.status().message(), ::testing::StartsWith("conf.yaml:"));
  // The position is 1-based "LINE:COL".
  EXPECT_THAT(node.status().message(), ::testing::MatchesRegex("conf\\.yaml:[0-9]+:[0-9]+: .+"));

  Result<YAML::Node> tab = ParseYaml("a:\n\t- b\n", YamlContext{"tab.yaml"});
  ASSERT_FALSE(tab.ok());
  EXPECT_THAT(tab.status().message(), HasSubstr("tab.yaml:2:"));
}

TEST(YamlUtilTest, EmptyTextIsNull) {
  YAML::Node node = Parse("");
  EXPECT_TRUE(node.IsNull());
}

TEST(YamlUtilTest, LoadFile) {
  const std::string dir = ::testing::TempDir() + "yaml_util_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/x.yaml";
  std::ofstream(path) << "a: 1\n";
  Result<YAML::Node> node = LoadYamlFile(path);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ((*node)["a"].Scalar(), "1");

  Result<YAML::Node> missing = LoadYamlFile(dir + "/none.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("none.yaml"));

  std::ofstream(path) << "a: [\n";
  Result<YAML::Node> bad = LoadYamlFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path + ":"));
  std::filesystem::remove_all(dir);
}

TEST(YamlUtilTest, CheckMapRejectsUnknownDuplicateAndNonStringKeys) {
  YamlContext ctx{"t.yaml"};
  EXPECT_TRUE(CheckYamlMap(ctx, Parse("a: 1\nb: 2\n"), "the top level", {"a", "b", "c"}).ok());

  Status unknown = CheckYamlMap(ctx, Parse("a: 1\nbb: 2\n"), "the top level", {"a", "b"});
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(), "t.yaml:2: unknown field \"bb\" in the top level (expected one of a, b)");

  Status twice = CheckYamlMap(ctx, Parse("a: 1\nb: 2\na: 3\n"), "x", {"a", "b"});
  EXPECT_EQ(twice.message(), "t.yaml:3: field \"a\" appears twice in x");

  Status non_string = CheckYamlMap(ctx, Parse("a: 1\n? [1, 2]\n: 3\n"), "x", {"a"});
  EXPECT_THAT(non_string.message(), HasSubstr("t.yaml:2: a key in x is not a string"));

  Status not_map = CheckYamlMap(ctx, Parse("- a\n"), "rate_limit", {"a"});
  EXPECT_EQ(not_map.message(), "t.yaml:1: rate_limit must be a map, not a list");
}

TEST(YamlUtilTest, TypedGetters) {
  YamlContext ctx{"t.yaml"};
  YAML::Node m = Parse(
      "s: hello\n"
      "n: 123\n"
      "neg: -5\n"
      "plus: +7\n"
      "quoted_n: \"123\"\n"
      "b1: true\n"
      "b2: No\n"
      "b3: \"true\"\n"
      "d: 90s\n"
      "bad_d: 90x\n"
      "list: [a, b]\n"
      "one: a\n"
      "null_field:\n"
      "map: {x: 1}\n"
      "big: 4294967296\n"
      "huge: 99999999999999999999\n"
      "float: 1.5\n");

  EXPECT_EQ(**GetYamlString(ctx, m, "s"), "hello");
  EXPECT_EQ(**GetYamlString(ctx, m, "n"), "123");  // any scalar is a string
  EXPECT_FALSE(GetYamlString(ctx, m, "absent")->has_value());
  EXPECT_FALSE(GetYamlString(ctx, m, "null_field")->has_value());
  Result<std::optional<std::string>> map_as_string = GetYamlString(ctx, m, "map");
  ASSERT_FALSE(map_as_string.ok());
  EXPECT_EQ(map_as_string.status().message(), "t.yaml:14: field \"map\" must be a string, not a map");

  EXPECT_EQ(**GetYamlInt64(ctx, m, "n"), 123);
  EXPECT_EQ(**GetYamlInt64(ctx, m, "neg"), -5);
  EXPECT_EQ(**GetYamlInt64(ctx, m, "plus"), 7);
  EXPECT_EQ(GetYamlInt64(ctx, m, "quoted_n").status().message(),
            "t.yaml:5: field \"quoted_n\" must be an integer, not \"123\"");
  EXPECT_EQ(GetYamlInt64(ctx, m, "float").status().message(),
            "t.yaml:17: field \"float\" must be an integer, not \"1.5\"");
  EXPECT_EQ(GetYamlInt64(ctx, m, "n", 0, 100).status().message(),
            "t.yaml:2: field \"n\" must be in [0, 100], not 123");
  EXPECT_FALSE(GetYamlInt64(ctx, m, "huge").ok());
  EXPECT_EQ(**GetYamlUint32(ctx, m, "n"), 123u);
  EXPECT_EQ(GetYamlUint32(ctx, m, "neg").status().message(),
            "t.yaml:3: field \"neg\" must be in [0, 4294967295], not -5");
  EXPECT_FALSE(GetYamlUint32(ctx, m, "big").ok());

  EXPECT_TRUE(**GetYamlBool(ctx, m, "b1"));
  EXPECT_FALSE(**GetYamlBool(ctx, m, "b2"));
  EXPECT_EQ(GetYamlBool(ctx, m, "b3").status().message(),
            "t.yaml:8: field \"b3\" must be true or false, not \"true\"");
  EXPECT_FALSE(GetYamlBool(ctx, m, "s").ok());

  EXPECT_EQ(**GetYamlDuration(ctx, m, "d"), std::chrono::seconds(90));
  Result<std::optional<std::chrono::nanoseconds>> bad_d = GetYamlDuration(ctx, m, "bad_d");
  ASSERT_FALSE(bad_d.ok());
  EXPECT_THAT(bad_d.status().message(), ::testing::StartsWith("t.yaml:10: field \"bad_d\": "));

  EXPECT_EQ(**GetYamlStringList(ctx, m, "list"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(**GetYamlStringList(ctx, m, "one"), (std::vector<std::string>{"a"}));
  EXPECT_FALSE(GetYamlStringList(ctx, m, "map").ok());

  EXPECT_TRUE(YamlHas(m, "s"));
  EXPECT_FALSE(YamlHas(m, "null_field"));
  EXPECT_FALSE(YamlHas(m, "absent"));
  // Getters on a non-map see nothing rather than throwing.
  EXPECT_FALSE(GetYamlString(ctx, m["s"], "x")->has_value());
}

}  // namespace
}  // namespace sluice::daemon
