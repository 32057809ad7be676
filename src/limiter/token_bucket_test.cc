// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/token_bucket.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "util/json.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;
// 2024-01-01T00:00:00Z, the seed's example time.
constexpr int64_t kJan2024Ms = 1'704'067'200'000;

// A clock that moves only when the test says so. Wall time only; SleepFor
// must not be called by a TokenBucket.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ns) : now_ns_(now_ns) {}
  void Set(int64_t now_ns) { now_ns_ = now_ns; }
  void Advance(nanoseconds d) { now_ns_ += d.count(); }

  int64_t NowNanos() override { return now_ns_; }
  Wall WallNow() override { return Wall(std::chrono::duration_cast<Wall::duration>(nanoseconds(now_ns_.load()))); }
  Monotonic MonotonicNow() override { return Monotonic(nanoseconds(now_ns_.load())); }
  void SleepFor(nanoseconds) override { ADD_FAILURE() << "TokenBucket must not sleep"; }

 private:
  std::atomic<int64_t> now_ns_;
};

internal::Json ParsedJson(const std::string& text) {
  Result<internal::Json> j = internal::ParseJson(text);
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return j.ok() ? *j : internal::Json();
}

TokenBucket Make(int64_t capacity, int64_t per_second, Clock* clock) {
  Result<TokenBucket> b = TokenBucket::Create(capacity, per_second, clock);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return std::move(b).value();
}

TEST(TokenBucketTest, SeedScenario) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket limiter = Make(1000, 100, &clock);
  EXPECT_TRUE(limiter.Allow(300));

  const std::string json = limiter.ToJson();
  EXPECT_EQ(json,
            R"({"version":1,"capacity":1000,"tokens":700,"refillRate":100,"lastRefill":1704067200000,)"
            R"("timestamp":1704067200000,"metadata":{"serializedAt":"2024-01-01T00:00:00.000Z",)"
            R"("className":"TokenBucket"},"refillAmount":100,"refillIntervalNs":1000000000,"remainder":0,)"
            R"("lastRefillNs":1704067200000000000})");

  Result<TokenBucket> restored = TokenBucket::FromJson(json, &clock);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->Available(), 700);
  EXPECT_EQ(restored->capacity(), 1000);
  EXPECT_EQ(restored->policy(), limiter.policy());
  EXPECT_EQ(restored->ToJson(), json);

  clock.Advance(seconds(1));
  EXPECT_EQ(restored->Available(), 800);
  EXPECT_EQ(limiter.Available(), 800);
}

TEST(TokenBucketTest, PrettyJson) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(10, 1, &clock);
  const std::string pretty = b.ToJson(/*pretty=*/true);
  EXPECT_THAT(pretty, HasSubstr("{\n  \"version\": 1,\n  \"capacity\": 10,\n"));
  EXPECT_THAT(pretty, HasSubstr("  \"metadata\": {\n    \"serializedAt\": \"2024-01-01T00:00:00.000Z\",\n"));
  EXPECT_EQ(ParsedJson(pretty), ParsedJson(b.ToJson()));
}

TEST(TokenBucketTest, ToJsonReportsTheStateAsOfNow) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(1000, 100, &clock);
  ASSERT_TRUE(b.Allow(1000));
  clock.Advance(milliseconds(1234) + nanoseconds(5));
  const internal::Json j = ParsedJson(b.ToJson());
  EXPECT_EQ(j.Find("tokens")->as_int(), 123);
  EXPECT_EQ(j.Find("remainder")->as_int(), 400'000'500);  // 0.4 token + 5ns * 100 units
  EXPECT_EQ(j.Find("lastRefill")->as_int(), kJan2024Ms + 1234);
  EXPECT_EQ(j.Find("lastRefillNs")->as_int(), (kJan2024Ms + 1234) * kMs + 5);
  EXPECT_EQ(j.Find("timestamp")->as_int(), kJan2024Ms + 1234);
  EXPECT_EQ(j.Find("metadata")->Find("serializedAt")->as_string(), "2024-01-01T00:00:01.234Z");
  // Serializing changed nothing.
  EXPECT_EQ(b.Available(), 123);
}

TEST(TokenBucketTest, SerializedAtFormatsUtc) {
  const std::vector<std::pair<int64_t, std::string>> cases = {
      {0, "1970-01-01T00:00:00.000Z"},
      {951'782'400'123, "2000-02-29T00:00:00.123Z"},
      {4'102'444'799'999, "2099-12-31T23:59:59.999Z"},
  };
  for (const auto& [ms, iso] : cases) {
    ManualClock clock(ms * kMs);
    TokenBucket b = Make(1, 1, &clock);
    EXPECT_EQ(ParsedJson(b.ToJson()).Find("metadata")->Find("serializedAt")->as_string(), iso);
  }
}

TEST(TokenBucketTest, AllowIsAllOrNothingAndRefills) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(10, 2, &clock);
  EXPECT_TRUE(b.Allow(7));
  EXPECT_FALSE(b.Allow(4));
  EXPECT_EQ(b.Available(), 3);
  EXPECT_TRUE(b.Allow(3));
  EXPECT_FALSE(b.Allow());
  clock.Advance(milliseconds(499));
  EXPECT_FALSE(b.Allow());
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(b.Allow());
  clock.Advance(seconds(100));
  EXPECT_EQ(b.Available(), 10);  // never beyond capacity
}

TEST(TokenBucketTest, InvalidCostsAreFalseOrErrors) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(10, 1, &clock);
  EXPECT_FALSE(b.Allow(0));
  EXPECT_FALSE(b.Allow(-1));
  EXPECT_FALSE(b.Allow(11));
  EXPECT_EQ(b.Available(), 10);

  Result<Decision> d = b.TryConsume(0);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d.status().message(), "TokenBucket: cost must be positive, got 0");
  d = b.TryConsume(11);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d.status().message(), "TokenBucket: cost 11 exceeds capacity 10 and could never be allowed");
}

TEST(TokenBucketTest, TryConsumeReturnsTheDecision) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(10, 1, &clock);
  Result<Decision> d = b.TryConsume(10);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->allowed);
  EXPECT_EQ(d->limit, 10);
  EXPECT_EQ(d->remaining, 0);
  EXPECT_EQ(d->reset_after, seconds(10));
  d = b.TryConsume(3);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->allowed);
  EXPECT_EQ(d->retry_after, seconds(3));
}

TEST(TokenBucketTest, CreateValidates) {
  ManualClock clock(0);
  EXPECT_EQ(TokenBucket::Create(0, 1, &clock).status().message(), "TokenBucket: capacity must be positive, got 0");
  EXPECT_EQ(TokenBucket::Create(-5, 1, &clock).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenBucket::Create(10, 0, &clock).status().message(), "TokenBucket: refill amount must be positive, got 0");
  EXPECT_EQ(TokenBucket::Create(10, 1, nanoseconds(0), &clock).status().message(),
            "TokenBucket: refill interval must be positive, got 0ns");
  Status too_big = TokenBucket::Create(int64_t{1} << 62, 1, &clock).status();
  EXPECT_EQ(too_big.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("TokenBucket: token_bucket policy: limit must be in"));
  EXPECT_TRUE(TokenBucket::Create(10, 1, seconds(3), &clock).ok());
}

TEST(TokenBucketTest, DefaultClockIsReal) {
  Result<TokenBucket> b = TokenBucket::Create(5, 1);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->Allow(5));
  EXPECT_TRUE(TokenBucket::FromJson(b->ToJson()).ok());
}

TEST(TokenBucketTest, CloneIsIndependent) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket original = Make(1000, 100, &clock);
  ASSERT_TRUE(original.Allow(200));
  TokenBucket copy = original.Clone();
  ASSERT_TRUE(copy.Allow(300));
  EXPECT_EQ(original.Available(), 800);
  EXPECT_EQ(copy.Available(), 500);
  ASSERT_TRUE(original.Allow(800));
  EXPECT_EQ(copy.Available(), 500);
  EXPECT_EQ(copy.policy(), original.policy());
}

TEST(TokenBucketTest, MovedBucketKeepsItsState) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket a = Make(10, 1, &clock);
  ASSERT_TRUE(a.Allow(4));
  TokenBucket b = std::move(a);
  EXPECT_EQ(b.Available(), 6);
  TokenBucket c = Make(99, 9, &clock);
  c = std::move(b);
  EXPECT_EQ(c.Available(), 6);
  EXPECT_EQ(c.capacity(), 10);
}

TEST(TokenBucketTest, ClockSteppingBackCreatesNoTokens) {
  ManualClock clock(kJan2024Ms * kMs);
  TokenBucket b = Make(10, 1, &clock);
  ASSERT_TRUE(b.Allow(10));
  clock.Advance(seconds(5));
  EXPECT_EQ(b.Available(), 5);
  ASSERT_TRUE(b.Allow(5));
  clock.Advance(-seconds(60));
  EXPECT_EQ(b.Available(), 0);
  EXPECT_FALSE(b.Allow());
}

TEST(TokenBucketTest, FractionalRateRoundTripsExactly) {
  ManualClock clock(kJan2024Ms * kMs);
  Result<TokenBucket> b = TokenBucket::Create(10, 1, seconds(3), &clock);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->Allow(10));
  clock.Advance(seconds(4));  // 1 token and a third
  const std::string json = b->ToJson();
  const internal::Json j = ParsedJson(json);
  EXPECT_TRUE(j.Find("refillRate")->is_double());
  EXPECT_DOUBLE_EQ(j.Find("refillRate")->as_double(), 1.0 / 3.0);
  EXPECT_EQ(j.Find("tokens")->as_int(), 1);
  EXPECT_EQ(j.Find("remainder")->as_int(), kSecond);  // a third of 3e9 units

  Result<TokenBucket> r = TokenBucket::FromJson(json, &clock);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->policy(), b->policy());
  EXPECT_EQ(r->ToJson(), json);
  clock.Advance(seconds(2));  // a third + two thirds = one more token
  EXPECT_EQ(r->Available(), 2);
  EXPECT_EQ(b->Available(), 2);
}

TEST(TokenBucketTest, AcceptsSeedStyleJsonWithoutExtras) {
  ManualClock clock(kJan2024Ms * kMs);
  // As the seed's createLimiterWithState builds it: fractional tokens round down.
  Result<TokenBucket> b = TokenBucket::FromJson(
      R"({"capacity":100,"tokens":50.7,"refillRate":10,"lastRefill":1704067200000})", &clock);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->Available(), 50);
  EXPECT_EQ(b->policy(), Policy::TokenBucket(100, 10, seconds(1)));
  EXPECT_FALSE(b->Allow(51));
  EXPECT_TRUE(b->Allow(50));

  // A full seed toJSON() output, written a while ago: refill catches up.
  b = TokenBucket::FromJson(R"({"version":1,"capacity":1000,"tokens":699.5,"refillRate":100,)"
                            R"("lastRefill":1704067199000,"timestamp":1704067199000,)"
                            R"("metadata":{"serializedAt":"2023-12-31T23:59:59.000Z","className":"TokenBucket"}})",
                            &clock);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->Available(), 799);

  // Fractional rates become exact ratios in lowest terms.
  const std::vector<std::pair<std::string, Policy>> rates = {
      {"0.5", Policy::TokenBucket(10, 1, seconds(2))},
      {"2.5", Policy::TokenBucket(10, 5, seconds(2))},
      {"100.0", Policy::TokenBucket(10, 100, seconds(1))},
      {"0.001", Policy::TokenBucket(10, 1, seconds(1000))},
      {"0.3333333333333333", Policy::TokenBucket(10, 333'333, seconds(1'000'000))},
  };
  for (const auto& [rate, policy] : rates) {
    b = TokenBucket::FromJson(R"({"capacity":10,"tokens":0,"refillRate":)" + rate + R"(,"lastRefill":0})", &clock);
    ASSERT_TRUE(b.ok()) << rate << ": " << b.status().ToString();
    EXPECT_EQ(b->policy(), policy) << rate;
  }
  // Unknown members are ignored, as the seed does.
  EXPECT_TRUE(TokenBucket::FromJson(R"({"capacity":1,"tokens":1,"refillRate":1,"lastRefill":0,"type":"x"})", &clock)
                  .ok());
}

TEST(TokenBucketTest, FromJsonRejectsInvalidInput) {
  ManualClock clock(kJan2024Ms * kMs);
  const std::string base_tail = R"("lastRefill":1704067200000)";
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not json", "TokenBucket state: JSON parse error at byte 0: invalid value"},
      {"[1]", "TokenBucket: expected an object, got array"},
      {R"({"tokens":1,"refillRate":1,"lastRefill":0})", "TokenBucket.capacity: required field is missing"},
      {R"({"capacity":1,"refillRate":1,"lastRefill":0})", "TokenBucket.tokens: required field is missing"},
      {R"({"capacity":1,"tokens":1,"lastRefill":0})", "TokenBucket.refillRate: required field is missing"},
      {R"({"capacity":1,"tokens":1,"refillRate":1})", "TokenBucket.lastRefill: required field is missing"},
      {R"({"capacity":"1000","tokens":1,"refillRate":1,"lastRefill":0})",
       "TokenBucket.capacity: expected an integer, got string"},
      {R"({"capacity":10.5,"tokens":1,"refillRate":1,"lastRefill":0})",
       "TokenBucket.capacity: expected an integer, got number with a fraction or exponent"},
      {R"({"capacity":0,"tokens":0,"refillRate":1,"lastRefill":0})", "TokenBucket.capacity: must be positive, got 0"},
      {R"({"capacity":-3,"tokens":0,"refillRate":1,"lastRefill":0})", "TokenBucket.capacity: must be positive, got -3"},
      {R"({"capacity":10,"tokens":"5","refillRate":1,"lastRefill":0})",
       "TokenBucket.tokens: expected a number, got string"},
      {R"({"capacity":10,"tokens":-1,"refillRate":1,"lastRefill":0})",
       "TokenBucket.tokens: must not be negative, got -1"},
      {R"({"capacity":10,"tokens":12,"refillRate":1,"lastRefill":0})", "TokenBucket.tokens: 12 exceeds capacity 10"},
      {R"({"capacity":10,"tokens":10.5,"refillRate":1,"lastRefill":0})",
       "TokenBucket.tokens: 10.5 exceeds capacity 10"},
      {R"({"capacity":10,"tokens":1,"refillRate":"fast","lastRefill":0})",
       "TokenBucket.refillRate: expected a number, got string"},
      {R"({"capacity":10,"tokens":1,"refillRate":0,"lastRefill":0})", "TokenBucket.refillRate: must be positive, got 0"},
      {R"({"capacity":10,"tokens":1,"refillRate":-2.5,"lastRefill":0})",
       "TokenBucket.refillRate: must be positive, got -2.5"},
      {R"({"capacity":10,"tokens":1,"refillRate":1e-9,"lastRefill":0})",
       "TokenBucket.refillRate: is below 0.000001 tokens per second; give refillAmount and refillIntervalNs"},
      {R"({"capacity":10,"tokens":1,"refillRate":1e300,"lastRefill":0})",
       "TokenBucket.refillRate: exceeds the maximum of 1e15 tokens per second"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":"yesterday"})",
       "TokenBucket.lastRefill: expected a number, got string"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":-1})",
       "TokenBucket.lastRefill: must not be negative, got -1"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":1704067800000})",
       "TokenBucket.lastRefill: 1704067800000 is 600000 ms in the future (more than 5 minutes ahead of this clock)"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":1e300})",
       "TokenBucket.lastRefill: is too far in the future"},
      {R"({"version":2,"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0})",
       "unsupported TokenBucket state version 2; this build reads 1"},
      {R"({"version":"1","capacity":10,"tokens":1,"refillRate":1,"lastRefill":0})",
       "TokenBucket.version: expected an integer"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"metadata":{"className":"RedisTokenBucket"}})",
       "TokenBucket.metadata.className: is \"RedisTokenBucket\", expected \"TokenBucket\""},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"metadata":5})",
       "TokenBucket.metadata: expected an object, got integer"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"timestamp":"now"})",
       "TokenBucket.timestamp: expected a number, got string"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"refillAmount":1})",
       "TokenBucket: refillAmount and refillIntervalNs go together; got only one"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"refillAmount":0,"refillIntervalNs":1})",
       "TokenBucket.refillAmount: must be positive, got 0"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"refillAmount":1,"refillIntervalNs":-1})",
       "TokenBucket.refillIntervalNs: must be positive, got -1"},
      {R"({"capacity":10,"tokens":1,"refillRate":2,"lastRefill":0,"refillAmount":1,"refillIntervalNs":1000000000})",
       "TokenBucket.refillRate: 2 disagrees with refillAmount 1 per refillIntervalNs 1000000000"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"refillAmount":1,"refillIntervalNs":1000000000,)"
       R"("remainder":1000000000})",
       "TokenBucket.remainder: 1000000000 is outside [0, refillIntervalNs)"},
      {R"({"capacity":10,"tokens":1.5,"refillRate":1,"lastRefill":0,"remainder":0})",
       "TokenBucket.tokens: must be an integer when remainder is given"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":0,"remainder":"0"})",
       "TokenBucket.remainder: expected an integer, got string"},
      {R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":5,"lastRefillNs":7000000})",
       "TokenBucket.lastRefillNs: 7000000 disagrees with lastRefill 5"},
  };
  for (const Case& c : cases) {
    Result<TokenBucket> b = TokenBucket::FromJson(c.json, &clock);
    ASSERT_FALSE(b.ok()) << c.json;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(b.status().message(), c.message) << c.json;
  }
  // Up to 5 minutes ahead is clock skew, and accepted.
  EXPECT_TRUE(TokenBucket::FromJson(R"({"capacity":10,"tokens":1,"refillRate":1,"lastRefill":1704067500000})", &clock)
                  .ok());
}

TEST(TokenBucketTest, ConcurrentAllowNeverOvergrants) {
  ManualClock clock(kJan2024Ms * kMs);  // frozen: no refill during the test
  TokenBucket b = Make(1000, 1, &clock);
  std::atomic<int64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (b.Allow()) granted.fetch_add(1);
        if (i % 50 == 0) (void)b.ToJson();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1000);
  EXPECT_EQ(b.Available(), 0);
}

}  // namespace
}  // namespace sluice
