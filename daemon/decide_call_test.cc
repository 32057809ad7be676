// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/decide_call.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "daemon/json_mutation_for_test.h"
#include "sluice/duration.h"

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Equal calls, or equal errors.
void ExpectSameResult(const Result<DecideCall>& got, const Result<DecideCall>& want,
                      const std::string& body) {
  SCOPED_TRACE("body: " + body);
  ASSERT_EQ(got.ok(), want.ok()) << (got.ok() ? want.status().ToString() : got.status().ToString());
  if (!want.ok()) {
    EXPECT_EQ(got.status(), want.status());
    return;
  }
  EXPECT_EQ(got->key, want->key);
  EXPECT_EQ(got->policy, want->policy);
  EXPECT_EQ(got->name, want->name);
  EXPECT_EQ(got->domain, want->domain);
  ASSERT_EQ(got->entries.size(), want->entries.size());
  for (size_t i = 0; i < got->entries.size(); ++i) {
    EXPECT_EQ(got->entries[i].key, want->entries[i].key);
    EXPECT_EQ(got->entries[i].value, want->entries[i].value);
  }
  EXPECT_EQ(got->cost, want->cost);
  EXPECT_EQ(got->op, want->op);
}

// Bodies as clients send them, and the ways they go wrong.
const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = {
      R"({"key":"user:1","limit":{"algorithm":"token_bucket","limit":100,"period":"1m"}})",
      R"({"key":"user:1","limit":{"algorithm":"token_bucket","limit":100,"period":"1m","refill":5}})",
      R"({"key":"u","limit":{"algorithm":"gcra","limit":10,"period":"1s"},"cost":3,"name":"api"})",
      R"({"key":"u","limit":{"limit":10,"period":"90s"},"operation":"peek"})",
      R"({"key":"u","limit":{"limit":10,"alignment":"day"}})",
      R"({"key":"u","limit":{"algorithm":"fixed_window","limit":10,"alignment":"month","period":"1s"}})",
      R"({"key":"u","limit":{"algorithm":"sliding_window_log","limit":5,"period":"1h"},"operation":"refund"})",
      R"({"key":"u","limit":{"algorithm":"sliding_window_counter","limit":5,"period":"10s"},"operation":"reset"})",
      R"({ "key" : "spaced" , "limit" : { "limit" : 1 , "period" : "1s" } , "cost" : 0 })",
      "{\n\t\"key\": \"tabs\",\r\n\"limit\": {\"limit\": 2, \"period\": \"2s\"}\n}\n",
      R"({"domain":"edge","entries":[{"key":"user","value":"42"},{"key":"path"}]})",
      R"({"domain":"edge","entries":[],"cost":2,"operation":"peek"})",
      R"({"cost":1,"domain":"edge","entries":[{"value":"v","key":"k"}]})",
      // Errors the fast pass leaves to the strict parser, and errors of meaning
      // it reports through the shared code.
      R"({"key":"u","limit":{"limit":10,"period":"1s"},"cost":-1})",
      R"({"key":"u","limit":{"limit":10,"period":"1s"},"operation":"take"})",
      R"({"key":"u","limit":{"limit":10}})",
      R"({"key":"u","limit":{"algorithm":"leaky","limit":10,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":0,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":10,"period":"soon"}})",
      R"({"key":"u","limit":{"limit":10,"period":"1s","burst":3}})",
      R"({"key":"u","limit":{"limit":10.5,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":1e3,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":99999999999999999999,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":-0,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":007,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":10,"period":"1s"},"key":"v"})",
      R"({"key":"u","limit":{"limit":10,"period":"1s","limit":11}})",
      R"({"key":"u","limit":10})",
      R"({"key":"u"})",
      R"({"limit":{"limit":10,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":10,"period":"1s"},"domain":"d","entries":[]})",
      R"({"domain":"d"})",
      R"({"domain":"d","entries":{}})",
      R"({"domain":"d","entries":[{"value":"v"}]})",
      R"({"domain":"d","entries":[{"key":"k","value":1}]})",
      R"({"domain":"d","entries":[{"key":"k","extra":1}]})",
      R"({"domain":"d","entries":["k"]})",
      R"({"key":"u\"q","limit":{"limit":10,"period":"1s"}})",
      R"({"key":"u\u00e9","limit":{"limit":10,"period":"1s"}})",
      "{\"key\":\"caf\xc3\xa9\",\"limit\":{\"limit\":10,\"period\":\"1s\"}}",
      "{\"key\":\"bad\xff\",\"limit\":{\"limit\":10,\"period\":\"1s\"}}",
      R"({"key":null,"limit":{"limit":10,"period":"1s"}})",
      R"({"key":"u","limit":{"limit":10,"period":"1s"},"unknown":true})",
      R"({"key":"u","limit":{"limit":10,"period":"1s"}} trailing)",
      R"({"key":"u","limit":{"limit":10,"period":"1s"},})",
      R"([{"key":"u"}])",
      R"("just a string")",
      "",
      "{",
  };
  return corpus;
}

TEST(DecideCallTest, ReadsKeyAndLimitWithDefaults) {
  Result<DecideCall> call =
      ParseDecideCall(R"({"key":"user:1","limit":{"algorithm":"token_bucket","limit":100,"period":"1m"}})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->key, "user:1");
  EXPECT_EQ(call->policy, Policy::TokenBucket(100, 100, 1min));  // refill defaults to the limit
  EXPECT_EQ(call->cost, 1);
  EXPECT_EQ(call->op, Operation::kConsume);
  EXPECT_TRUE(call->domain.empty());

  call = ParseDecideCall(
      R"({"key":"k","limit":{"limit":7,"period":"90s"},"cost":2,"operation":"peek","name":"n"})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->policy, Policy::FixedWindow(7, 90s));  // fixed window by default
  EXPECT_EQ(call->cost, 2);
  EXPECT_EQ(call->op, Operation::kPeek);
  EXPECT_EQ(call->name, "n");

  call = ParseDecideCall(R"({"key":"k","limit":{"limit":7,"alignment":"day"}})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->policy, Policy::CalendarWindow(7, WindowAlignment::kCalendarDay));  // no period needed
}

TEST(DecideCallTest, ReadsDomainAndEntries) {
  Result<DecideCall> call =
      ParseDecideCall(R"({"domain":"edge","entries":[{"key":"user","value":"42"},{"key":"path"}],"cost":3})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->domain, "edge");
  ASSERT_EQ(call->entries.size(), 2u);
  EXPECT_EQ(call->entries[0].key, "user");
  EXPECT_EQ(call->entries[0].value, "42");
  EXPECT_EQ(call->entries[1].key, "path");
  EXPECT_EQ(call->entries[1].value, "");
  EXPECT_EQ(call->cost, 3);
  EXPECT_FALSE(call->policy.has_value());
}

TEST(DecideCallTest, ErrorsNameTheField) {
  auto error = [](std::string_view body) {
    Result<DecideCall> call = ParseDecideCall(body);
    EXPECT_FALSE(call.ok()) << body;
    EXPECT_EQ(call.status().code(), StatusCode::kInvalidArgument) << body;
    return std::string(call.status().message());
  };
  EXPECT_THAT(error(R"({"key":"u","limit":{"limit":10}})"),
              HasSubstr("limit.period: required field is missing"));
  EXPECT_THAT(error(R"({"key":"u","limit":{"limit":10,"period":"1s"},"cost":-1})"),
              HasSubstr("request.cost must not be negative"));
  EXPECT_THAT(error(R"({"key":"u","limit":{"limit":10,"period":"1s"},"operation":"take"})"),
              HasSubstr("not \"take\""));
  EXPECT_THAT(error(R"({"key":"u","limit":{"limit":10,"period":"1s","burst":3}})"), HasSubstr("limit.burst"));
  EXPECT_THAT(error(R"({"key":"u","limit":{"limit":1.5,"period":"1s"}})"), HasSubstr("limit.limit"));
  EXPECT_THAT(error(R"({"key":"u"})"), HasSubstr("request.limit is required"));
  EXPECT_THAT(error(R"({"domain":"d","entries":[{"value":"v"}]})"), HasSubstr("request.entries[].key"));
  EXPECT_THAT(error(R"({"key":"u","limit":{"algorithm":"leaky","limit":1,"period":"1s"}})"),
              HasSubstr("leaky"));
}

TEST(DecideCallTest, CommonBodiesTakeTheFastPass) {
  // Were the fast pass never taken, the agreement tests below would prove
  // nothing about it.
  EXPECT_TRUE(IsPlainDecideBody(Corpus()[0]));
  EXPECT_TRUE(IsPlainDecideBody(Corpus()[8]));   // whitespace
  EXPECT_TRUE(IsPlainDecideBody(Corpus()[10]));  // domain and entries
  EXPECT_TRUE(IsPlainDecideBody(R"({"key":"u","limit":{"limit":10,"period":"1s"},"cost":-1})"));
  EXPECT_FALSE(IsPlainDecideBody(R"({"key":"u\"q","limit":{"limit":10,"period":"1s"}})"));  // an escape
  EXPECT_FALSE(IsPlainDecideBody(R"({"key":"u","limit":{"limit":10,"period":"1s"},"key":"v"})"));  // twice
  EXPECT_FALSE(IsPlainDecideBody(R"({"key":"u","limit":{"limit":1e3,"period":"1s"}})"));
}

TEST(DecideCallTest, FastPassAgreesWithStrictParserOnCorpus) {
  for (const std::string& body : Corpus()) {
    const Result<DecideCall> strict = ParseDecideCallStrict(body);
    ExpectSameResult(ParseDecideCall(body), strict, body);
    ExpectSameResult(ParseDecideCall(body), strict, body);  // again: the policy comes from the cache
  }
}

TEST(DecideCallTest, PolicyCacheKeepsLimitsApart) {
  // Many distinct limit objects, interleaved, so slots are shared and
  // replaced; each answer must still be its own body's.
  std::vector<std::string> bodies;
  for (int limit = 1; limit <= 64; ++limit) {
    bodies.push_back(R"({"key":"k","limit":{"algorithm":"token_bucket","limit":)" + std::to_string(limit) +
                     R"(,"period":")" + std::to_string(limit % 7 + 1) + R"(s"}})");
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < bodies.size(); i += (round + 1)) {
      Result<DecideCall> call = ParseDecideCall(bodies[i]);
      ASSERT_TRUE(call.ok()) << call.status().ToString();
      const int64_t limit = static_cast<int64_t>(i) + 1;
      EXPECT_EQ(call->policy, Policy::TokenBucket(limit, limit, std::chrono::seconds(limit % 7 + 1)))
          << bodies[i];
    }
  }
}

TEST(DecideCallTest, FastPassAgreesWithStrictParserOnMutations) {
  // Random edits of the corpus: characters and JSON tokens inserted, deleted
  // and replaced, digits and letters changed. Whatever the fast pass accepts must read as the strict
  // parser reads it, and whatever it declines must get the strict answer.
  static const std::vector<std::string> kPieces = {
      "\"",         "\\",       "{",          "}",           "[",        "]",          ",",
      ":",          " ",        "\n",         "0",           "1",        "9",          "-",
      ".5",         "e3",       "null",       "true",        "\"x\"",    "\"key\"",    "\"limit\"",
      "\"period\"", "\"1s\"",   "\"domain\"", "\"entries\"", "\"cost\"", "\"refill\"", "\"alignment\"",
      "\"day\"",    "\"gcra\"", "\xc3\xa9",   "\xff",        "\x01",     "\\u0041",    "12345678901234567890",
  };
  const uint64_t seed = 20261201;
  std::mt19937_64 rng(seed);
  int fast = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = Corpus()[rng() % Corpus().size()];
    MutateJson(rng, kPieces, 1 + static_cast<int>(rng() % 3), &body);
    if (IsPlainDecideBody(body)) ++fast;
    ExpectSameResult(ParseDecideCall(body), ParseDecideCallStrict(body), body);
    if (testing::Test::HasFailure()) {
      FAIL() << "seed " << seed << ", iteration " << i;
    }
  }
  // Enough mutated bodies stay in the plain subset to exercise the fast pass.
  EXPECT_GT(fast, 500);
}

}  // namespace
}  // namespace sluice::daemon
