// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice::internal::crc32c {
namespace {

// Bit by bit, straight from the definition, to check the sliced tables.
uint32_t Reference(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (char ch : data) {
    crc ^= static_cast<unsigned char>(ch);
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82f63b78u : 0u);
  }
  return ~crc;
}

TEST(Crc32cTest, StandardCheckValue) { EXPECT_EQ(Value("123456789"), 0xE3069283u); }

TEST(Crc32cTest, Rfc3720Vectors) {
  std::string buf(32, '\0');
  EXPECT_EQ(Value(buf), 0x8a9136aau);
  buf.assign(32, '\xff');
  EXPECT_EQ(Value(buf), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(Value(buf), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Value(buf), 0x113fdb5cu);
}

TEST(Crc32cTest, Empty) { EXPECT_EQ(Value(""), 0u); }

TEST(Crc32cTest, MatchesBitwiseReferenceAtEveryLengthAndOffset) {
  std::mt19937_64 rng(42);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t len = 0; offset + len <= data.size(); len += 7) {
      std::string_view s(data.data() + offset, len);
      ASSERT_EQ(Value(s), Reference(s)) << "offset " << offset << " len " << len;
    }
  }
}

TEST(Crc32cTest, Extend) {
  EXPECT_EQ(Value("hello world"), Extend(Value("hello "), "world", 5));
  EXPECT_EQ(Value("123456789"), Extend(Extend(0, "1234", 4), "56789", 5));
}

TEST(Crc32cTest, Mask) {
  uint32_t crc = Value("foo");
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
  for (uint32_t v : {0u, 1u, 0xffffffffu, 0x80000000u, 0xE3069283u}) EXPECT_EQ(Unmask(Mask(v)), v);
}

}  // namespace
}  // namespace sluice::internal::crc32c
