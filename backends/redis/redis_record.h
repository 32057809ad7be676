// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// How a sluice Record is laid out in a Redis hash (docs/redis_format.md): flat
// fields with decimal integers, so that Lua scripts can read and write the
// same state the C++ code does.

#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "redis/redis_connection.h"
#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice::redis {

using HashFields = std::vector<std::pair<std::string, std::string>>;

// The fields of `record` (without the version "v" and fence "f").
HashFields EncodeRecordFields(const Record& record);

// A hash as read by HGETALL: field -> value.
using HashMap = std::map<std::string, std::string, std::less<>>;

// Turns an HGETALL reply into a map. kDataLoss if the reply is not a flat
// array of field/value pairs.
Result<HashMap> ToHashMap(const Reply& reply);

// Decodes the record stored under `key`; nullopt if the hash holds no record
// (absent, or only a fence) or it expired by `now_ns`. kDataLoss when a field
// is missing or malformed, naming the key and field.
Result<std::optional<Record>> DecodeRecordFields(const std::string& key, const HashMap& fields,
                                                 int64_t now_ns);

}  // namespace sluice::redis
