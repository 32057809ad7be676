// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Pieces of the export stream format (docs/export_format.md) shared by the
// writer and the reader: the header's JSON form, the NDJSON trailer and the
// binary framing. Private to the library.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/state_export.h"

namespace sluice::internal {

// The "format" member of the NDJSON trailer line.
inline constexpr std::string_view kExportTrailerFormatName = "sluice.export.end";

// The header as one compact JSON object (no newline).
std::string ExportHeaderToJson(const ExportHeader& header);
// Parses and checks a header object. kInvalidArgument naming the field.
Result<ExportHeader> ExportHeaderFromJson(std::string_view json);

// The NDJSON trailer line (with its newline).
std::string NdjsonTrailer(uint64_t count, uint32_t crc);

void PutExportVarint(std::string* out, uint64_t v);
void PutExportFixed32(std::string* out, uint32_t v);
uint32_t GetExportFixed32(const char* p);

// Decodes a varint at the start of `data`: the value and the bytes used; 0
// bytes when `data` ends first; -1 when it is malformed (too long, or
// non-canonical).
struct VarintRead {
  uint64_t value = 0;
  int length = 0;
};
VarintRead GetExportVarint(std::string_view data);

}  // namespace sluice::internal
