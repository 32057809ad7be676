// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace sluice {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

nanoseconds Parse(std::string_view text) {
  Result<nanoseconds> r = ParseDuration(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.value_or(nanoseconds(-1));
}

// Expects kInvalidArgument whose message quotes `text` and contains `what`.
void ExpectInvalid(std::string_view text, std::string_view what) {
  Result<nanoseconds> r = ParseDuration(text);
  ASSERT_FALSE(r.ok()) << "\"" << text << "\" parsed as " << r->count() << "ns";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"" + std::string(text) + "\"")) << text;
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(what))) << text;
}

TEST(ParseDurationTest, ExamplesFromTheHeaderAndIssue) {
  EXPECT_EQ(Parse("1 minute"), minutes(1));
  EXPECT_EQ(Parse("90s"), seconds(90));
  EXPECT_EQ(Parse("1h30m"), minutes(90));
  EXPECT_EQ(Parse("250ms"), milliseconds(250));
  EXPECT_EQ(Parse("2 days"), days(2));
  EXPECT_EQ(Parse("1.5h"), minutes(90));
  EXPECT_EQ(Parse("1h 30m"), minutes(90));
  EXPECT_EQ(Parse("1 hour, 30 minutes"), minutes(90));
  EXPECT_EQ(Parse("0"), nanoseconds(0));
}

TEST(ParseDurationTest, EveryUnitSingularAndPlural) {
  struct Case {
    const char* text;
    nanoseconds want;
  };
  const Case cases[] = {
      {"3ns", nanoseconds(3)},
      {"3 nanosecond", nanoseconds(3)},
      {"3 nanoseconds", nanoseconds(3)},
      {"3us", microseconds(3)},
      {"3\xC2\xB5s", microseconds(3)},
      {"3\xCE\xBCs", microseconds(3)},
      {"3 microsecond", microseconds(3)},
      {"3 microseconds", microseconds(3)},
      {"3ms", milliseconds(3)},
      {"3 millisecond", milliseconds(3)},
      {"3 milliseconds", milliseconds(3)},
      {"3s", seconds(3)},
      {"3sec", seconds(3)},
      {"3secs", seconds(3)},
      {"3 second", seconds(3)},
      {"3 seconds", seconds(3)},
      {"3m", minutes(3)},
      {"3min", minutes(3)},
      {"3mins", minutes(3)},
      {"3 minute", minutes(3)},
      {"3 minutes", minutes(3)},
      {"3h", hours(3)},
      {"3hr", hours(3)},
      {"3hrs", hours(3)},
      {"3 hour", hours(3)},
      {"3 hours", hours(3)},
      {"3d", days(3)},
      {"3 day", days(3)},
      {"3 days", days(3)},
      {"3w", days(21)},
      {"3 week", days(21)},
      {"3 weeks", days(21)},
  };
  for (const Case& c : cases) EXPECT_EQ(Parse(c.text), c.want) << c.text;
}

TEST(ParseDurationTest, UnitsAreCaseInsensitive) {
  EXPECT_EQ(Parse("5MS"), milliseconds(5));
  EXPECT_EQ(Parse("5 Minutes"), minutes(5));
  EXPECT_EQ(Parse("2 DAYS"), days(2));
  EXPECT_EQ(Parse("1H30M"), minutes(90));
}

TEST(ParseDurationTest, WhitespaceAndSeparators) {
  EXPECT_EQ(Parse("  90s  "), seconds(90));
  EXPECT_EQ(Parse("\t1h\n30m\r"), minutes(90));
  EXPECT_EQ(Parse("1h,30m"), minutes(90));
  EXPECT_EQ(Parse("1h ,  30m"), minutes(90));
  EXPECT_EQ(Parse("1 hour, 30 minutes, 15 seconds"), seconds(5415));
  EXPECT_EQ(Parse(" 0 "), nanoseconds(0));
}

TEST(ParseDurationTest, ComponentsRepeatInAnyOrder) {
  EXPECT_EQ(Parse("30m1h"), minutes(90));
  EXPECT_EQ(Parse("1s 1s 1s"), seconds(3));
  EXPECT_EQ(Parse("1ns1us1ms1s1m1h1d1w"), nanoseconds(1) + microseconds(1) + milliseconds(1) + seconds(1) +
                                              minutes(1) + hours(1) + days(1) + days(7));
}

TEST(ParseDurationTest, ZeroWithUnitsAndLeadingZeros) {
  EXPECT_EQ(Parse("0s"), nanoseconds(0));
  EXPECT_EQ(Parse("0.0"), nanoseconds(0));
  EXPECT_EQ(Parse("000"), nanoseconds(0));
  EXPECT_EQ(Parse("0h0m0s"), nanoseconds(0));
  EXPECT_EQ(Parse("007s"), seconds(7));
}

TEST(ParseDurationTest, DecimalFractionsAreExact) {
  EXPECT_EQ(Parse("0.25s"), milliseconds(250));
  EXPECT_EQ(Parse(".5s"), milliseconds(500));
  EXPECT_EQ(Parse("1.s"), seconds(1));
  EXPECT_EQ(Parse("1.5 hours"), minutes(90));
  EXPECT_EQ(Parse("0.1s"), milliseconds(100));
  EXPECT_EQ(Parse("0.000000001s"), nanoseconds(1));
  EXPECT_EQ(Parse("1.000000001s"), nanoseconds(1'000'000'001));
  EXPECT_EQ(Parse("0.1ms"), microseconds(100));
  EXPECT_EQ(Parse("1.5us"), nanoseconds(1500));
  EXPECT_EQ(Parse("0.5d"), hours(12));
  EXPECT_EQ(Parse("0.5w"), hours(84));
  EXPECT_EQ(Parse("2.50000000000000000000000000000s"), milliseconds(2500));
  // 1/3 of an hour is 20 minutes, but "0.333h" is what it says: 1198.8 s.
  EXPECT_EQ(Parse("0.333h"), milliseconds(1'198'800));
  // 16 decimal places of a week can still be whole nanoseconds.
  EXPECT_EQ(Parse("0.0000000000003125w"), nanoseconds(189));
}

TEST(ParseDurationTest, LargestValue) {
  EXPECT_EQ(Parse("9223372036854775807ns"), nanoseconds(kMax));
  EXPECT_EQ(Parse("2562047h47m16s854ms775us807ns"), nanoseconds(kMax));
  EXPECT_EQ(Parse("106751d"), days(106751));
}

TEST(ParseDurationTest, Errors) {
  ExpectInvalid("", "empty");
  ExpectInvalid("   ", "empty");
  ExpectInvalid("-5s", "negative");
  ExpectInvalid("1h -5m", "negative");
  ExpectInvalid("-0", "negative");
  ExpectInvalid("90", "missing unit");
  ExpectInvalid("1.5", "missing unit");
  ExpectInvalid("1h30", "missing unit");
  ExpectInvalid("1h 0", "missing unit");
  ExpectInvalid("5 fortnights", "unknown unit \"fortnights\"");
  ExpectInvalid("5 years", "unknown unit");
  ExpectInvalid("300 years", "unknown unit");
  ExpectInvalid("5 s!", "unexpected \"!\"");
  ExpectInvalid("5s junk", "unexpected \"junk\"");
  ExpectInvalid("5s 6", "missing unit");
  ExpectInvalid("1h,", "after ','");
  ExpectInvalid("1h,,30m", "unexpected");
  ExpectInvalid("s", "expected a number");
  ExpectInvalid("+5s", "expected a number");
  ExpectInvalid(".s", "digit");
  ExpectInvalid(".", "digit");
  ExpectInvalid("1..5s", "missing unit");
  ExpectInvalid("1.2.3s", "missing unit");
  ExpectInvalid("0x10s", "unknown unit");
  ExpectInvalid("1e3s", "unknown unit");
}

TEST(ParseDurationTest, FractionsFinerThanANanosecond) {
  ExpectInvalid("0.5ns", "finer than 1 ns");
  ExpectInvalid("1.0000000001s", "finer than 1 ns");
  ExpectInvalid("0.0001us", "finer than 1 ns");
  ExpectInvalid("0.0000000000000001w", "finer than 1 ns");
  ExpectInvalid("0.00000000000000001w", "finer than 1 ns");
  ExpectInvalid("0.1234567890123456789012345h", "finer than 1 ns");
}

TEST(ParseDurationTest, Overflow) {
  ExpectInvalid("9223372036854775808ns", "overflow");
  ExpectInvalid("200000 days", "overflow");
  ExpectInvalid("106752d", "overflow");
  ExpectInvalid("15251w", "overflow");
  ExpectInvalid("2562047h47m16s854ms775us808ns", "overflow");
  ExpectInvalid("99999999999999999999999999s", "overflow");
  ExpectInvalid("9223372036854775807ns 1ns", "overflow");
  ExpectInvalid("106751.999d", "overflow");
}

TEST(ParseDurationTest, LongInputIsCutInTheMessage) {
  const std::string text = std::string(1000, '1') + "x";
  Result<nanoseconds> r = ParseDuration(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_LT(r.status().message().size(), 400u);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("..."));

  const std::string digits(1000, '7');
  r = ParseDuration(digits);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("missing unit"));
  EXPECT_LT(r.status().message().size(), 400u);
}

TEST(FormatDurationTest, Examples) {
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(seconds(5400)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(nanoseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(hours(48)), "2d");
  EXPECT_EQ(FormatDuration(hours(49)), "49h");
  EXPECT_EQ(FormatDuration(days(14)), "14d");
  EXPECT_EQ(FormatDuration(minutes(1)), "1m");
  EXPECT_EQ(FormatDuration(nanoseconds(1)), "1ns");
  EXPECT_EQ(FormatDuration(microseconds(1) + nanoseconds(5)), "1us5ns");
  EXPECT_EQ(FormatDuration(hours(1) + nanoseconds(1)), "1h1ns");
  EXPECT_EQ(FormatDuration(nanoseconds(kMax)), "2562047h47m16s854ms775us807ns");
}

TEST(FormatDurationTest, Negative) {
  EXPECT_EQ(FormatDuration(seconds(-90)), "-1m30s");
  EXPECT_EQ(FormatDuration(days(-2)), "-2d");
  EXPECT_EQ(FormatDuration(nanoseconds(std::numeric_limits<int64_t>::min())),
            "-2562047h47m16s854ms775us808ns");
}

void ExpectRoundTrip(int64_t value) {
  const std::string text = FormatDuration(nanoseconds(value));
  Result<nanoseconds> back = ParseDuration(text);
  ASSERT_TRUE(back.ok()) << value << " -> \"" << text << "\": " << back.status().ToString();
  EXPECT_EQ(back->count(), value) << "\"" << text << "\"";
}

TEST(FormatDurationTest, RoundTripsThroughParseDuration) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{86'400'000'000'000},
                    int64_t{86'400'000'000'001}, kMax, kMax - 1, kMax / 2}) {
    ExpectRoundTrip(v);
  }
  std::mt19937_64 rng(20260101);
  std::uniform_int_distribution<int64_t> any(0, kMax);
  for (int i = 0; i < 20'000; ++i) {
    // Mix uniformly random values (mostly huge) with ones that are whole
    // units, so that every suffix and the day form are exercised.
    const int64_t v = any(rng);
    ExpectRoundTrip(v);
    const int64_t units[] = {1'000,          1'000'000,         1'000'000'000,
                             60'000'000'000, 3'600'000'000'000, 86'400'000'000'000};
    const int64_t unit = units[static_cast<size_t>(i) % std::size(units)];
    ExpectRoundTrip((v % (kMax / unit)) / 1000 * unit);
    ExpectRoundTrip(v % 1'000'000'000'000);
  }
}

TEST(FormatDurationTest, ParseThenFormatIsCanonical) {
  EXPECT_EQ(FormatDuration(Parse("1 hour, 30 minutes")), "1h30m");
  EXPECT_EQ(FormatDuration(Parse("1.5h")), "1h30m");
  EXPECT_EQ(FormatDuration(Parse("48 hours")), "2d");
  EXPECT_EQ(FormatDuration(Parse("1w")), "7d");
  EXPECT_EQ(FormatDuration(Parse("0")), "0s");
}

}  // namespace
}  // namespace sluice
