// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Durations as people write them in configuration: "1 minute", "90s", "1h30m",
// "250ms", "2 days", "1.5h". Parsing is strict: empty text, negative values,
// unknown units, a missing unit and values that overflow int64 nanoseconds are
// kInvalidArgument with a message that quotes the input.
//
// Units (case-insensitive, singular or plural): ns/nanosecond, us/µs/microsecond,
// ms/millisecond, s/sec/second, m/min/minute, h/hr/hour, d/day, w/week.
// Components may repeat in any order ("1h 30m", "1 hour, 30 minutes").
// A bare "0" is zero.
//
// Arithmetic is integer-only: a decimal fraction ("1.5h", "0.25s") is exact,
// and one finer than 1 ns ("0.5ns") is kInvalidArgument rather than rounded.
// The largest value is INT64_MAX ns, about 292 years ("2562047h47m16s854ms775us807ns").
//
// Thread-safe (pure functions).

#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

// Parses `text` into nanoseconds. Returns kInvalidArgument on malformed input.
SLUICE_EXPORT Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Formats `d` in the compact form ParseDuration reads back, e.g. "1h30m",
// "250ms", "0s". Negative durations are written with a leading '-'.
// Units, largest first: h, m, s, ms, us, ns; a whole number of days is
// written in d ("2d"), anything else starts at hours ("49h"). For every d >= 0,
// ParseDuration(FormatDuration(d)) == d.
SLUICE_EXPORT std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace sluice
