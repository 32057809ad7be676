// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Pieces of the export stream format (docs/export_format.md) shared by the
// writer and the reader: the header's JSON form and the NDJSON trailer (the
// binary framing's numbers are util/coding.h's). Private to the library.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/state_export.h"
#include "util/coding.h"

namespace sluice::internal {

// The "format" member of the NDJSON trailer line.
inline constexpr std::string_view kExportTrailerFormatName = "sluice.export.end";

// The header as one compact JSON object (no newline).
std::string ExportHeaderToJson(const ExportHeader& header);
// Parses and checks a header object. kInvalidArgument naming the field.
Result<ExportHeader> ExportHeaderFromJson(std::string_view json);

// The NDJSON trailer line (with its newline).
std::string NdjsonTrailer(uint64_t count, uint32_t crc);

}  // namespace sluice::internal
