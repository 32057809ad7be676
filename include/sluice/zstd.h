// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Zstandard compression for sluice (the optional component sluice::zstd,
// built with -DSLUICE_WITH_ZSTD=ON; links libzstd). It implements the
// Compression seam of sluice/compression.h under the name "zstd", for export
// files, checkpoints and CompressingStore.
//
// Streams are standard zstd frames (RFC 8878) with a content checksum, so
// `zstd -d` reads an exported file, and a flipped bit inside a frame is
// reported as kDataLoss rather than decoded into wrong bytes.
//
// Thread-safety: the Compression is immutable and shareable; each Compressor
// or Decompressor it makes is used by one thread at a time.
//
// Errors: kInvalidArgument for a level outside zstd's range; kDataLoss for
// corrupt or truncated input; kInternal if libzstd fails to allocate.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const sluice::Compression> zstd,
//                           sluice::zstd::Create({.level = 3}));
//   SLUICE_ASSIGN_OR_RETURN(std::string packed, sluice::CompressAll(*zstd, bytes));

#pragma once

#include <memory>

#include "sluice/compression.h"
#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice::zstd {

// The name zstd streams are recorded under.
inline constexpr std::string_view kName = "zstd";

struct ZstdOptions {
  // Compression level, from zstd's fastest negative levels up to 22 (slowest,
  // smallest). Decompression does not depend on it. Default: 3 (zstd's own
  // default: fast, and about 3-4x smaller for sluice records).
  int level = 3;
  // Whether frames carry zstd's content checksum (4 bytes per frame), checked
  // on decompression. Default: true.
  bool checksum = true;
};

// A zstd Compression. kInvalidArgument for a level outside zstd's range.
SLUICE_EXPORT Result<std::shared_ptr<const Compression>> Create(const ZstdOptions& options = {});

}  // namespace sluice::zstd
