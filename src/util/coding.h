// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The byte-level encodings every binary format of sluice shares (the record
// codec, export streams, checkpoints): little-endian fixed-width integers,
// LEB128 varints, zigzag for signed values, length-prefixed strings. One
// definition, so the formats cannot drift apart in how they write a number.
// Internal: no API promise. Pure functions.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::internal {

inline void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Zigzag maps small negative and positive numbers to small unsigned ones.
inline uint64_t ZigZagEncode(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t ZigZagDecode(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }

inline void PutSignedVarint64(std::string* out, int64_t v) { PutVarint64(out, ZigZagEncode(v)); }

// A varint length, then the bytes.
inline void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes);
}

inline void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// REQUIRES: p points at 4 (8) readable bytes.
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// What DecodeVarint64 found at the start of its input.
struct VarintRead {
  enum class Outcome : uint8_t {
    kOk,
    kTruncated,     // the input ends inside the varint
    kOverflow,      // more than 64 bits
    kNonCanonical,  // redundant high zero groups: every value has one encoding
  };
  Outcome outcome = Outcome::kTruncated;
  uint64_t value = 0;
  size_t length = 0;  // bytes used, when kOk

  bool ok() const { return outcome == Outcome::kOk; }
  bool truncated() const { return outcome == Outcome::kTruncated; }
  // Neither complete nor cut short: bytes no writer produces.
  bool malformed() const { return !ok() && !truncated(); }
};

inline VarintRead DecodeVarint64(std::string_view data) {
  uint64_t v = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= data.size()) return {VarintRead::Outcome::kTruncated, 0, 0};
    const uint64_t b = static_cast<unsigned char>(data[i]);
    if (i == 9 && b > 1) return {VarintRead::Outcome::kOverflow, 0, 0};
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return {VarintRead::Outcome::kNonCanonical, 0, 0};
      return {VarintRead::Outcome::kOk, v, i + 1};
    }
  }
  return {VarintRead::Outcome::kOverflow, 0, 0};
}

}  // namespace sluice::internal
