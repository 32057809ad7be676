// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Redis Cluster's key -> hash slot mapping: CRC16-XMODEM of the key (or of its
// hash tag: the bytes between the first '{' and the next '}', when not empty)
// modulo 16384. The building block of Cluster routing.

#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::redis {

inline constexpr uint16_t kClusterSlots = 16384;

// CRC16-XMODEM (poly 0x1021, init 0, not reflected): "123456789" -> 0x31C3.
uint16_t Crc16(std::string_view data);

// The slot Redis Cluster assigns `key` (CLUSTER KEYSLOT).
uint16_t KeySlot(std::string_view key);

}  // namespace sluice::redis
