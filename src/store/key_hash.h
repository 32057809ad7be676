// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The memory store's key hash: fast for the short keys limiters use (two
// loads and one multiply up to 16 bytes), every input bit spread over the
// result. Not a stable format: only this process's tables use it.
// Internal: no API promise. Pure; thread-safe.

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice::internal::memory {

__extension__ typedef unsigned __int128 internal_u128;  // NOLINT(modernize-use-using)

inline uint64_t Mix(uint64_t a, uint64_t b) {
  // 64x64 -> 128-bit multiply, folded (as wyhash does): one instruction of
  // mixing that spreads every input bit.
  const internal_u128 m = static_cast<internal_u128>(a ^ 0xa0761d6478bd642fULL) * (b ^ 0xe7037ed1a0b428dbULL);
  return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Up to 8 bytes, little-endian, zero-padded.
inline uint64_t LoadTail(const char* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

inline uint64_t HashKey(std::string_view key) {
  const char* p = key.data();
  const size_t n = key.size();
  uint64_t seed = 0x8ebc6af09c88c6e3ULL ^ n;
  if (n <= 16) {
    // Most keys ("user:12345", "rl:api:...") are short: two loads, one mix.
    const uint64_t a = n > 8 ? Load64(p) : LoadTail(p, n);
    const uint64_t b = n > 8 ? LoadTail(p + 8, n - 8) : 0;
    return Mix(Mix(a, b ^ seed), seed);
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16) seed = Mix(Load64(p + i) ^ seed, Load64(p + i + 8));
  if (i < n) {
    const size_t rest = n - i;
    seed = Mix(LoadTail(p + i, std::min<size_t>(rest, 8)) ^ seed, rest > 8 ? LoadTail(p + i + 8, rest - 8) : 0);
  }
  return Mix(seed, n);
}

}  // namespace sluice::internal::memory
