// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Exact integer helpers for the algorithms: 128-bit intermediates, floor and
// ceiling division, saturation to the int64 range.

#pragma once

#include <cstdint>
#include <limits>

namespace sluice::internal {

__extension__ typedef __int128 int128;  // NOLINT(modernize-use-using): __extension__ silences -Wpedantic

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

inline int64_t Saturate(int128 v) {
  if (v > kInt64Max) return kInt64Max;
  if (v < kInt64Min) return kInt64Min;
  return static_cast<int64_t>(v);
}

inline int64_t SatAdd(int64_t a, int64_t b) { return Saturate(int128{a} + b); }
inline int64_t SatSub(int64_t a, int64_t b) { return Saturate(int128{a} - b); }

inline bool FitsInt64(int128 v) { return v >= kInt64Min && v <= kInt64Max; }

// Truncating division; 128-bit division is a library call several times
// slower than the 64-bit instruction, so use that whenever the operands fit.
inline int128 Div(int128 n, int128 d) {
  if (FitsInt64(n) && FitsInt64(d)) return static_cast<int64_t>(n) / static_cast<int64_t>(d);
  return n / d;
}

// REQUIRES: d > 0.
inline int128 FloorDiv(int128 n, int128 d) {
  int128 q = Div(n, d);
  if (q * d != n && n < 0) --q;
  return q;
}

// REQUIRES: d > 0.
inline int128 CeilDiv(int128 n, int128 d) {
  int128 q = Div(n, d);
  if (q * d != n && n > 0) ++q;
  return q;
}

// REQUIRES: d > 0. Result in [0, d).
inline int128 FloorMod(int128 n, int128 d) { return n - FloorDiv(n, d) * d; }

}  // namespace sluice::internal
