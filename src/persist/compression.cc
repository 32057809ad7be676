// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Whole-buffer helpers over the streaming Compression seam.

#include "sluice/compression.h"

#include <algorithm>

namespace sluice {

Result<std::string> CompressAll(const Compression& compression, std::string_view input) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Compressor> c, compression.NewCompressor());
  std::string out;
  SLUICE_RETURN_IF_ERROR(c->Compress(input, &out));
  SLUICE_RETURN_IF_ERROR(c->Finish(&out));
  return out;
}

Result<std::string> DecompressAll(const Compression& compression, std::string_view input, size_t max_output) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Decompressor> d, compression.NewDecompressor());
  std::string out;
  // Small pieces, so that a bomb is caught after at most one piece's output.
  constexpr size_t kPiece = 4096;
  for (size_t pos = 0; pos < input.size(); pos += kPiece) {
    SLUICE_RETURN_IF_ERROR(d->Decompress(input.substr(pos, std::min(kPiece, input.size() - pos)), &out));
    if (out.size() > max_output) {
      return ResourceExhaustedError(std::string(compression.name()) + ": decompressed data exceeds " +
                                    std::to_string(max_output) + " bytes");
    }
  }
  SLUICE_RETURN_IF_ERROR(d->Finish());
  return out;
}

const Compression* FindCompression(std::span<const std::shared_ptr<const Compression>> available,
                                   std::string_view name) {
  for (const auto& c : available) {
    if (c != nullptr && c->name() == name) return c.get();
  }
  return nullptr;
}

}  // namespace sluice
