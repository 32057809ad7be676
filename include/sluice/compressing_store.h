// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// CompressingStore keeps large opaque values compressed in any store, out of
// sight of its readers. It wraps a Store: an opaque (std::string) value of at
// least `threshold_bytes` is compressed on its way in (Put, AtomicUpdate) and
// decompressed on its way out (Get, Scan, AtomicUpdate), so a session blob or
// a windowed aggregate costs less memory in MemoryStore, less network and
// memory in Redis, and less disk in RocksDB. Limiter records and decisions
// pass through unchanged.
//
// Stored form: a compressed value starts with the 4-byte marker "\xffSZ1", a
// method byte (1 = compressed), the compression's name (one length byte and
// the name) and the compressed stream. A value that is not worth compressing
// (below the threshold, or not smaller compressed) is stored as it is, unless
// it happens to start with the marker itself: then it is stored as the marker,
// method byte 0 and the value, so every value reads back exactly. Values
// written to the wrapped store by other means read back as they are.
//
// Thread-safety: as the wrapped store (every Store is thread-safe).
//
// Errors: those of the wrapped store; kDataLoss when a stored value carries
// the marker but does not decompress (corrupt, or made by a compression with
// another name: the message names it); kResourceExhausted when a value would
// decompress to more than max_value_bytes.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(auto zstd, sluice::zstd::Create());
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<sluice::Store> store,
//       sluice::NewCompressingStore(redis_store, {.compression = zstd, .threshold_bytes = 1024}));
//   store->Put("session:42", big_json);  // kept compressed in Redis
//   store->Get("session:42");            // big_json again

#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/compression.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

// The first bytes of a value stored by CompressingStore in its own format.
inline constexpr std::string_view kCompressedValueMarker{"\xffSZ1", 4};

struct SLUICE_EXPORT CompressingStoreOptions {
  // Required.
  std::shared_ptr<const Compression> compression{};
  // Opaque values at least this long are compressed. Default: 1024 bytes
  // (smaller values rarely gain enough to pay for the work).
  size_t threshold_bytes = 1024;
  // The largest value a read will decompress to. Default: 256 MiB.
  size_t max_value_bytes = size_t{256} << 20;
};

// Wraps `base`. kInvalidArgument without a compression, or with a name longer
// than 255 bytes.
SLUICE_EXPORT Result<std::unique_ptr<Store>> NewCompressingStore(std::shared_ptr<Store> base,
                                                                 CompressingStoreOptions options);

}  // namespace sluice
