// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The binary record format, versions 1 and 2 (2 adds the fencing token).
// docs/state_format.md is the specification; a change here that changes the
// bytes of an existing record is a new format version (the golden files in
// testdata/state_v1/ and testdata/state_v2/ catch it).

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "codec/codec_internal.h"
#include "sluice/state_codec.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace sluice {
namespace {

// Persisted: do not change the values of existing entries.
enum class RecordKind : uint8_t {
  kBytes = 1,
  kLimiter = 2,
};

constexpr size_t kTrailerSize = 4;

using internal::DecodeFixed32;
using internal::PutFixed32;
using internal::PutLengthPrefixed;
using internal::PutSignedVarint64;
using internal::PutVarint64;
using internal::ZigZagDecode;


template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void PutState(std::string* out, const LimiterState& state) {
  out->push_back(static_cast<char>(AlgorithmOf(state)));
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        for (const auto& f : internal::StateFields<S>::kFields) PutSignedVarint64(out, s.*f.member);
        if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
          PutVarint64(out, s.entries.size());
          // Times as differences from the previous time (the first from
          // updated_ns), computed modulo 2^64 so that any values round-trip.
          uint64_t prev = static_cast<uint64_t>(s.updated_ns);
          for (const LogEntry& e : s.entries) {
            PutSignedVarint64(out, static_cast<int64_t>(static_cast<uint64_t>(e.time_ns) - prev));
            PutSignedVarint64(out, e.cost);
            prev = static_cast<uint64_t>(e.time_ns);
          }
        }
      },
      state);
}

// Reads the body of a record whose checksum has been verified. Running out of
// bytes means the writer produced a short record (kDataLoss); values it cannot
// name are kInvalidArgument.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }

  Status Truncated(std::string_view field) const {
    return DataLossError("binary record truncated at byte " + std::to_string(pos_) + " reading " +
                         std::string(field));
  }

  Result<uint64_t> Varint(std::string_view field) {
    const internal::VarintRead read = internal::DecodeVarint64(data_.substr(pos_));
    switch (read.outcome) {
      case internal::VarintRead::Outcome::kOk:
        pos_ += read.length;
        return read.value;
      case internal::VarintRead::Outcome::kTruncated:
        pos_ = data_.size();
        return Truncated(field);
      case internal::VarintRead::Outcome::kOverflow:
        return InvalidArgumentError(std::string(field) + ": varint overflows 64 bits");
      case internal::VarintRead::Outcome::kNonCanonical:
        // One encoding per value: no redundant high zero groups.
        return InvalidArgumentError(std::string(field) + ": non-canonical varint");
    }
    return InternalError("unreachable");
  }

  Result<int64_t> Signed(std::string_view field) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t u, Varint(field));
    return ZigZagDecode(u);
  }

  Result<uint8_t> Byte(std::string_view field) {
    if (pos_ >= data_.size()) return Truncated(field);
    return static_cast<uint8_t>(data_[pos_++]);
  }

  // A length-prefixed byte string of at most `max_size` bytes.
  Result<std::string> Bytes(std::string_view field, uint64_t max_size) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, Varint(field));
    if (n > max_size) {
      return InvalidArgumentError(std::string(field) + ": " + std::to_string(n) +
                                  " bytes exceeds the maximum of " + std::to_string(max_size));
    }
    if (n > remaining()) return Truncated(field);
    std::string out(data_.substr(pos_, n));
    pos_ += n;
    return out;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Result<LimiterState> ReadState(Reader& r) {
  SLUICE_ASSIGN_OR_RETURN(uint8_t tag, r.Byte("record.state algorithm"));
  return internal::WithStateType(static_cast<Algorithm>(tag), [&](auto type) -> Result<LimiterState> {
    using S = typename decltype(type)::type;
    S s;
    for (const auto& f : internal::StateFields<S>::kFields) {
      SLUICE_ASSIGN_OR_RETURN(s.*f.member, r.Signed(f.path));
    }
    if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
      SLUICE_ASSIGN_OR_RETURN(uint64_t n, r.Varint("record.state.entries"));
      // Each entry takes at least two bytes: this bounds the allocation by the input.
      if (n > r.remaining() / 2) return r.Truncated("record.state.entries");
      s.entries.reserve(n);
      uint64_t prev = static_cast<uint64_t>(s.updated_ns);
      for (uint64_t i = 0; i < n; ++i) {
        SLUICE_ASSIGN_OR_RETURN(int64_t delta, r.Signed("record.state.entries"));
        SLUICE_ASSIGN_OR_RETURN(int64_t cost, r.Signed("record.state.entries"));
        prev += static_cast<uint64_t>(delta);
        s.entries.push_back(LogEntry{static_cast<int64_t>(prev), cost});
      }
    }
    return LimiterState(std::move(s));
  });
}

std::string Hex32(uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(v >> shift) & 0xf]);
  return out;
}

}  // namespace

namespace internal {

std::string EncodeRecordBinaryAtVersion(const Record& record, int64_t version) {
  std::string out(kRecordBinaryMagic);
  PutVarint64(&out, static_cast<uint64_t>(version));
  const auto* bytes = std::get_if<std::string>(&record.value);
  out.push_back(static_cast<char>(bytes != nullptr ? RecordKind::kBytes : RecordKind::kLimiter));
  PutLengthPrefixed(&out, record.key);
  PutSignedVarint64(&out, record.expires_at_ns);
  if (version >= kFencingTokenVersion) PutVarint64(&out, record.fencing_token);
  if (bytes != nullptr) {
    PutLengthPrefixed(&out, *bytes);
  } else {
    const auto& limiter = std::get<LimiterRecord>(record.value);
    const Policy& p = limiter.policy;
    out.push_back(static_cast<char>(p.algorithm));
    PutSignedVarint64(&out, p.limit);
    PutSignedVarint64(&out, p.refill_amount);
    PutSignedVarint64(&out, p.interval.count());
    out.push_back(static_cast<char>(p.alignment));
    PutState(&out, limiter.state);
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out)));
  return out;
}

}  // namespace internal

std::string EncodeRecordBinary(const Record& record) {
  return internal::EncodeRecordBinaryAtVersion(record, kRecordFormatVersion);
}

Result<Record> DecodeRecordBinary(std::string_view bytes, int64_t now_ns,
                                  std::chrono::nanoseconds max_future) {
  const std::string_view magic = kRecordBinaryMagic;
  if (bytes.substr(0, magic.size()) != magic.substr(0, std::min(bytes.size(), magic.size()))) {
    return DataLossError("binary record: bad magic; expected \"" + std::string(magic) + "\"");
  }
  // Every version starts with the magic and a version varint and ends with the
  // checksum trailer; v1 has at least a kind byte in between.
  if (bytes.size() < magic.size() + 2 + kTrailerSize) {
    return DataLossError("binary record truncated: " + std::to_string(bytes.size()) + " bytes");
  }
  const std::string_view covered = bytes.substr(0, bytes.size() - kTrailerSize);
  const uint32_t stored = internal::crc32c::Unmask(DecodeFixed32(bytes.data() + covered.size()));
  const uint32_t computed = internal::crc32c::Value(covered);

  // Every version keeps the trailer, so the checksum is checked before anything
  // inside the record is trusted, the version included.
  if (stored != computed) {
    return DataLossError("binary record: checksum mismatch (stored " + Hex32(stored) + ", computed " +
                         Hex32(computed) + "); the record is truncated or corrupt");
  }
  Reader r(covered.substr(magic.size()));
  SLUICE_ASSIGN_OR_RETURN(uint64_t version, r.Varint("record.version"));
  if (version > static_cast<uint64_t>(INT64_MAX) || !internal::IsKnownRecordVersion(static_cast<int64_t>(version))) {
    return internal::UnsupportedRecordVersion(
        version > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(version));
  }

  Record record;
  SLUICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte("record kind"));
  SLUICE_ASSIGN_OR_RETURN(record.key, r.Bytes("record.key", kMaxKeyBytes));
  SLUICE_ASSIGN_OR_RETURN(record.expires_at_ns, r.Signed("record.expiresAtNs"));
  if (static_cast<int64_t>(version) >= internal::kFencingTokenVersion) {
    SLUICE_ASSIGN_OR_RETURN(record.fencing_token, r.Varint("record.fencingToken"));
  }
  switch (static_cast<RecordKind>(kind)) {
    case RecordKind::kBytes: {
      SLUICE_ASSIGN_OR_RETURN(std::string value, r.Bytes("record.bytes", UINT64_MAX));
      record.value = std::move(value);
      break;
    }
    case RecordKind::kLimiter: {
      LimiterRecord limiter;
      Policy& p = limiter.policy;
      SLUICE_ASSIGN_OR_RETURN(uint8_t algorithm, r.Byte("record.policy.algorithm"));
      p.algorithm = static_cast<Algorithm>(algorithm);
      SLUICE_ASSIGN_OR_RETURN(p.limit, r.Signed("record.policy.limit"));
      SLUICE_ASSIGN_OR_RETURN(p.refill_amount, r.Signed("record.policy.refillAmount"));
      SLUICE_ASSIGN_OR_RETURN(int64_t interval, r.Signed("record.policy.intervalNs"));
      p.interval = std::chrono::nanoseconds(interval);
      SLUICE_ASSIGN_OR_RETURN(uint8_t alignment, r.Byte("record.policy.alignment"));
      p.alignment = static_cast<WindowAlignment>(alignment);
      SLUICE_ASSIGN_OR_RETURN(limiter.state, ReadState(r));
      record.value = std::move(limiter);
      break;
    }
    default:
      return InvalidArgumentError("binary record: unknown record kind " + std::to_string(kind));
  }
  if (r.remaining() != 0) {
    return DataLossError("binary record: " + std::to_string(r.remaining()) +
                         " unexpected bytes after the record");
  }
  // Policy::Validate (inside) rejects algorithm and alignment bytes it does not know.
  SLUICE_RETURN_IF_ERROR(internal::ValidateDecodedRecord(record, now_ns, max_future));
  return record;
}

}  // namespace sluice
