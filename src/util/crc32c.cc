// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "util/crc32c.h"

#include <array>

namespace sluice::internal::crc32c {
namespace {

// The reflected Castagnoli polynomial.
constexpr uint32_t kPolynomial = 0x82f63b78u;

// kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC of
// byte b followed by k zero bytes, which lets the loop fold 8 bytes per step.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    t[0][b] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  }
  return t;
}

constexpr auto kTables = MakeTables();

inline uint32_t Byte(const char* p) { return static_cast<unsigned char>(*p); }

}  // namespace

uint32_t Extend(uint32_t init_crc, const char* data, size_t n) {
  uint32_t crc = ~init_crc;
  const char* p = data;
  const char* end = data + n;
  // Byte loads keep this independent of alignment and endianness.
  while (end - p >= 8) {
    uint32_t lo = crc ^ (Byte(p) | (Byte(p + 1) << 8) | (Byte(p + 2) << 16) | (Byte(p + 3) << 24));
    crc = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
          kTables[4][lo >> 24] ^ kTables[3][Byte(p + 4)] ^ kTables[2][Byte(p + 5)] ^
          kTables[1][Byte(p + 6)] ^ kTables[0][Byte(p + 7)];
    p += 8;
  }
  while (p < end) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ Byte(p)) & 0xff];
    ++p;
  }
  return ~crc;
}

}  // namespace sluice::internal::crc32c
