// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A seam for streaming compression. The core depends on the standard library
// only, so it names no codec: export files, checkpoints and CompressingStore
// take a Compression, and an optional component supplies one (sluice::zstd,
// include/sluice/zstd.h, builds with -DSLUICE_WITH_ZSTD=ON). A Compression has
// a stable name ("zstd"), which files record so that a reader can tell which
// implementation it needs.
//
// Streams are incremental and use bounded memory: a Compressor takes input in
// pieces and appends compressed bytes to a string as it goes, and Finish()
// ends the stream; a Decompressor takes the compressed stream in pieces of any
// size and appends what it decodes, and its Finish() says whether the stream
// was complete.
//
// Thread-safety: a Compression is immutable and safe to share between threads;
// each Compressor and Decompressor is used by one thread at a time.
//
// Errors: kDataLoss for compressed input that is corrupt or ends early;
// kResourceExhausted when a decompressed result would exceed a caller's cap;
// kInternal when the codec library itself fails (e.g. out of memory);
// kFailedPrecondition for a call after Finish().
//
// Example:
//   std::shared_ptr<const sluice::Compression> zstd = sluice::zstd::Create();
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<sluice::Compressor> c, zstd->NewCompressor());
//   std::string out;
//   SLUICE_RETURN_IF_ERROR(c->Compress(chunk1, &out));
//   SLUICE_RETURN_IF_ERROR(c->Compress(chunk2, &out));
//   SLUICE_RETURN_IF_ERROR(c->Finish(&out));

#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/status.h"
#include "sluice/visibility.h"

namespace sluice {

// Compresses one stream.
class SLUICE_EXPORT Compressor {
 public:
  virtual ~Compressor() = default;
  // Consumes all of `input` and appends whatever compressed bytes are ready
  // to `*out` (possibly none: a compressor buffers).
  virtual Status Compress(std::string_view input, std::string* out) = 0;
  // Appends the rest of the stream to `*out` and ends it. No call may follow.
  virtual Status Finish(std::string* out) = 0;
};

// Decompresses one stream.
class SLUICE_EXPORT Decompressor {
 public:
  virtual ~Decompressor() = default;
  // Consumes all of `input` (the next piece of the compressed stream, of any
  // size) and appends the bytes it decodes to `*out`. kDataLoss if the input
  // is corrupt.
  virtual Status Decompress(std::string_view input, std::string* out) = 0;
  // OK if the input so far was a complete stream; kDataLoss if it ended in
  // the middle (a truncated file) or was empty.
  virtual Status Finish() = 0;
};

// A named compression format.
class SLUICE_EXPORT Compression {
 public:
  virtual ~Compression() = default;
  // The name written into files, e.g. "zstd". Stable across releases.
  virtual std::string_view name() const = 0;
  virtual Result<std::unique_ptr<Compressor>> NewCompressor() const = 0;
  virtual Result<std::unique_ptr<Decompressor>> NewDecompressor() const = 0;
};

// Compresses `input` as one whole stream.
SLUICE_EXPORT Result<std::string> CompressAll(const Compression& compression, std::string_view input);

// Decompresses one whole stream. kResourceExhausted if the result would be
// larger than `max_output` bytes (a guard against decompression bombs), and
// kDataLoss for corrupt or truncated input.
SLUICE_EXPORT Result<std::string> DecompressAll(const Compression& compression, std::string_view input,
                                                size_t max_output = size_t{1} << 30);

// The element of `available` whose name() is `name`, or nullptr.
SLUICE_EXPORT const Compression* FindCompression(std::span<const std::shared_ptr<const Compression>> available,
                                                 std::string_view name);

}  // namespace sluice
