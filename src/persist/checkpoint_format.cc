// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "persist/checkpoint_format.h"

#include <cstring>
#include <type_traits>
#include <utility>
#include <variant>

#include "internal/state_fields.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace sluice::internal {
namespace {

namespace crc = ::sluice::internal::crc32c;

// The tag byte of a record: the kind in the low two bits, then flags.
constexpr uint8_t kKindBytes = 0;
constexpr uint8_t kKindNewPolicy = 1;
constexpr uint8_t kKindPolicyRef = 2;
constexpr uint8_t kKindMask = 0x03;
constexpr uint8_t kHasExpiry = 0x04;
constexpr uint8_t kHasFence = 0x08;
constexpr uint8_t kSamePolicy = 0x10;     // kind 2: the previous record's policy; no index follows
constexpr uint8_t kOwnAlgorithm = 0x20;   // the state's algorithm differs from the policy's; a byte follows
constexpr uint8_t kKnownTagBits = 0x3f;
constexpr uint8_t kEndTag = 0xff;
// Encoded records are handed on (and compressed) in pieces of about this size.
constexpr size_t kBodyPiece = 256 * 1024;

// a - b and b + d modulo 2^64: differences of any two int64 round-trip.
int64_t Diff(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b)); }
int64_t Add(int64_t b, int64_t d) { return static_cast<int64_t>(static_cast<uint64_t>(b) + static_cast<uint64_t>(d)); }

constexpr bool IsTime(std::string_view json_name) {
  return json_name.size() > 2 && json_name.substr(json_name.size() - 2) == "Ns";
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  size_t pos() const { return pos_; }
  Status Error(std::string_view what) const {
    return DataLossError("checkpoint body corrupt at byte " + std::to_string(pos_) + ": " + std::string(what));
  }
  bool Byte(uint8_t* v) {
    if (pos_ >= data_.size()) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool Varint(uint64_t* v) {
    const VarintRead read = DecodeVarint64(data_.substr(pos_));
    if (!read.ok()) return false;
    *v = read.value;
    pos_ += read.length;
    return true;
  }
  bool Signed(int64_t* v) {
    uint64_t u;
    if (!Varint(&u)) return false;
    *v = ZigZagDecode(u);
    return true;
  }
  bool String(std::string_view* s) {
    uint64_t n;
    if (!Varint(&n) || n > data_.size() - pos_) return false;
    *s = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

LimiterState EmptyStateOf(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kTokenBucket: return TokenBucketState{};
    case Algorithm::kGcra: return GcraState{};
    case Algorithm::kFixedWindow: return FixedWindowState{};
    case Algorithm::kSlidingWindowLog: return SlidingWindowLogState{};
    case Algorithm::kSlidingWindowCounter: return SlidingWindowCounterState{};
  }
  return TokenBucketState{};
}

bool KnownAlgorithm(uint8_t a) {
  return a >= static_cast<uint8_t>(Algorithm::kTokenBucket) &&
         a <= static_cast<uint8_t>(Algorithm::kSlidingWindowCounter);
}

}  // namespace

CheckpointEncoder::CheckpointEncoder(CheckpointHeader header, const Compression* compression, Output out)
    : header_(std::move(header)), compression_(compression), out_(std::move(out)) {
  header_.compression = compression_ != nullptr ? std::string(compression_->name()) : "none";
  body_.reserve(kBodyPiece + 1024);
}

Status CheckpointEncoder::Emit(std::string_view piece) {
  if (piece.empty()) return Status::Ok();
  crc_ = crc::Extend(crc_, piece.data(), piece.size());
  bytes_ += piece.size();
  return out_(piece);
}

Status CheckpointEncoder::Start() {
  std::string h(kCheckpointMagic);
  h.push_back(static_cast<char>(kCheckpointFormatVersion));
  PutVarint64(&h, header_.id);
  PutSignedVarint64(&h, header_.created_ns);
  PutLengthPrefixed(&h, header_.compression);
  PutLengthPrefixed(&h, header_.source);
  PutFixed32(&h, crc::Mask(crc::Value(h)));
  if (compression_ != nullptr) {
    SLUICE_ASSIGN_OR_RETURN(compressor_, compression_->NewCompressor());
  }
  return Emit(h);
}

Status CheckpointEncoder::FlushBody(bool last) {
  if (compressor_ == nullptr) {
    Status s = Emit(body_);
    body_.clear();
    return s;
  }
  scratch_.clear();
  SLUICE_RETURN_IF_ERROR(compressor_->Compress(body_, &scratch_));
  body_.clear();
  if (last) SLUICE_RETURN_IF_ERROR(compressor_->Finish(&scratch_));
  return Emit(scratch_);
}

Status CheckpointEncoder::Add(const Record& record) {
  std::string& out = body_;
  const auto* limiter = std::get_if<LimiterRecord>(&record.value);
  uint8_t tag = kKindBytes;
  uint32_t index = 0;
  if (limiter != nullptr) {
    if (last_policy_ != UINT32_MAX && policies_[last_policy_] == limiter->policy) {
      tag = kKindPolicyRef | kSamePolicy;
    } else {
      const uint64_t fp = limiter->policy.Fingerprint();
      auto it = policy_index_.find(fp);
      if (it != policy_index_.end() && policies_[it->second] == limiter->policy) {
        index = it->second;
        tag = kKindPolicyRef;
      } else {
        index = static_cast<uint32_t>(policies_.size());
        policies_.push_back(limiter->policy);
        policy_index_.emplace(fp, index);  // a fingerprint collision keeps the first policy mapped
        tag = kKindNewPolicy;
      }
      last_policy_ = index;
    }
    if (AlgorithmOf(limiter->state) != limiter->policy.algorithm) tag |= kOwnAlgorithm;
  }
  if (record.expires_at_ns != 0) tag |= kHasExpiry;
  if (record.fencing_token != 0) tag |= kHasFence;
  out.push_back(static_cast<char>(tag));
  size_t shared = 0;
  const size_t max_shared = std::min(prev_key_.size(), record.key.size());
  while (shared < max_shared && prev_key_[shared] == record.key[shared]) ++shared;
  PutVarint64(&out, shared);
  PutLengthPrefixed(&out, std::string_view(record.key).substr(shared));
  prev_key_ = record.key;
  if (record.fencing_token != 0) PutVarint64(&out, record.fencing_token);
  if (record.expires_at_ns != 0) PutSignedVarint64(&out, Diff(record.expires_at_ns, header_.created_ns));
  if (limiter == nullptr) {
    PutLengthPrefixed(&out, std::get<std::string>(record.value));
  } else {
    if ((tag & kKindMask) == kKindNewPolicy) {
      const Policy& p = limiter->policy;
      out.push_back(static_cast<char>(p.algorithm));
      PutSignedVarint64(&out, p.limit);
      PutSignedVarint64(&out, p.refill_amount);
      PutSignedVarint64(&out, p.interval.count());
      out.push_back(static_cast<char>(p.alignment));
    } else if ((tag & kSamePolicy) == 0) {
      PutVarint64(&out, index);
    }
    if ((tag & kOwnAlgorithm) != 0) out.push_back(static_cast<char>(AlgorithmOf(limiter->state)));
    std::visit(
        [&](const auto& s) {
          using S = std::decay_t<decltype(s)>;
          for (const auto& f : StateFields<S>::kFields) {
            PutSignedVarint64(&out, IsTime(f.json_name) ? Diff(s.*f.member, header_.created_ns) : s.*f.member);
          }
          if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
            PutVarint64(&out, s.entries.size());
            int64_t prev = s.updated_ns;
            for (const LogEntry& e : s.entries) {
              PutSignedVarint64(&out, Diff(e.time_ns, prev));
              PutSignedVarint64(&out, e.cost);
              prev = e.time_ns;
            }
          }
        },
        limiter->state);
  }
  ++records_;
  if (body_.size() >= kBodyPiece) return FlushBody(false);
  return Status::Ok();
}

Status CheckpointEncoder::Finish() {
  body_.push_back(static_cast<char>(kEndTag));
  SLUICE_RETURN_IF_ERROR(FlushBody(true));
  std::string t(kCheckpointEndMagic);
  PutFixed64(&t, records_);
  const uint32_t before = crc::Extend(crc_, t.data(), t.size());
  PutFixed32(&t, crc::Mask(before));
  return Emit(t);
}

namespace {

struct ParsedHeader {
  CheckpointHeader header;
  size_t size = 0;  // bytes of the header
};

Result<ParsedHeader> ParseHeader(std::string_view file) {
  if (file.size() < kCheckpointMagic.size() || file.substr(0, kCheckpointMagic.size()) != kCheckpointMagic) {
    return InvalidArgumentError("not a sluice checkpoint (bad magic)");
  }
  Reader r(file.substr(kCheckpointMagic.size()));
  uint8_t version;
  if (!r.Byte(&version)) return DataLossError("checkpoint truncated in its header");
  if (version != kCheckpointFormatVersion) {
    return InvalidArgumentError("unsupported checkpoint format version " + std::to_string(version) +
                                "; this build reads 1");
  }
  ParsedHeader out;
  std::string_view compression, source;
  if (!r.Varint(&out.header.id) || !r.Signed(&out.header.created_ns) || !r.String(&compression) ||
      !r.String(&source)) {
    return DataLossError("checkpoint truncated in its header");
  }
  out.header.compression = compression;
  out.header.source = source;
  const size_t end = kCheckpointMagic.size() + r.pos();
  if (file.size() < end + 4) return DataLossError("checkpoint truncated in its header");
  if (crc::Unmask(DecodeFixed32(file.data() + end)) != crc::Value(file.substr(0, end))) {
    return DataLossError("checkpoint header checksum mismatch");
  }
  out.size = end + 4;
  return out;
}

}  // namespace

Result<CheckpointHeader> VerifyCheckpoint(std::string_view file, uint32_t* file_crc) {
  SLUICE_ASSIGN_OR_RETURN(ParsedHeader h, ParseHeader(file));
  if (file.size() < h.size + kCheckpointTrailerSize) {
    return DataLossError("checkpoint truncated: " + std::to_string(file.size()) + " bytes, no trailer");
  }
  const char* t = file.data() + file.size() - kCheckpointTrailerSize;
  if (std::string_view(t, 8) != kCheckpointEndMagic) {
    return DataLossError("checkpoint truncated or corrupt: no end marker");
  }
  const uint32_t stored = crc::Unmask(DecodeFixed32(t + 16));
  const uint32_t computed = crc::Value(file.substr(0, file.size() - 4));
  if (stored != computed) {
    return DataLossError("checkpoint checksum mismatch (" + std::to_string(file.size()) + " bytes)");
  }
  if (file_crc != nullptr) *file_crc = crc::Extend(computed, t + 16, 4);
  return h.header;
}

Status DecodeCheckpoint(std::string_view file, const std::vector<std::shared_ptr<const Compression>>& compressions,
                        size_t max_body_bytes, const std::function<bool(Record&&)>& visit) {
  SLUICE_ASSIGN_OR_RETURN(ParsedHeader h, ParseHeader(file));
  if (file.size() < h.size + kCheckpointTrailerSize) return DataLossError("checkpoint truncated");
  const uint64_t expected = DecodeFixed64(file.data() + file.size() - kCheckpointTrailerSize + 8);
  std::string_view body = file.substr(h.size, file.size() - h.size - kCheckpointTrailerSize);
  std::string decompressed;
  if (h.header.compression != "none") {
    const Compression* c = FindCompression(compressions, h.header.compression);
    if (c == nullptr) {
      return NotSupportedError("checkpoint is compressed with \"" + h.header.compression +
                               "\", which this reader was not given");
    }
    SLUICE_ASSIGN_OR_RETURN(decompressed, DecompressAll(*c, body, max_body_bytes));
    body = decompressed;
  }
  const int64_t base = h.header.created_ns;
  Reader r(body);
  std::vector<Policy> policies;
  uint64_t last_policy = UINT64_MAX;
  std::string key;
  uint64_t count = 0;
  while (true) {
    uint8_t tag;
    if (!r.Byte(&tag)) return r.Error("no end tag");
    if (tag == kEndTag) break;
    const uint8_t kind = tag & kKindMask;
    if (kind > kKindPolicyRef || (tag & ~kKnownTagBits) != 0) {
      return r.Error("unknown record tag " + std::to_string(tag));
    }
    Record record;
    uint64_t shared;
    std::string_view suffix;
    if (!r.Varint(&shared) || shared > key.size() || !r.String(&suffix)) return r.Error("bad key");
    key.resize(shared);
    key.append(suffix);
    record.key = key;
    if ((tag & kHasFence) != 0 && !r.Varint(&record.fencing_token)) return r.Error("bad fencing token");
    if ((tag & kHasExpiry) != 0) {
      int64_t d;
      if (!r.Signed(&d)) return r.Error("bad expiry");
      record.expires_at_ns = Add(base, d);
    }
    if (kind == kKindBytes) {
      std::string_view value;
      if (!r.String(&value)) return r.Error("bad value");
      record.value = std::string(value);
    } else {
      LimiterRecord limiter;
      if (kind == kKindNewPolicy) {
        uint8_t algorithm, alignment;
        int64_t interval;
        if (!r.Byte(&algorithm) || !KnownAlgorithm(algorithm) || !r.Signed(&limiter.policy.limit) ||
            !r.Signed(&limiter.policy.refill_amount) || !r.Signed(&interval) || !r.Byte(&alignment)) {
          return r.Error("bad policy");
        }
        limiter.policy.algorithm = static_cast<Algorithm>(algorithm);
        limiter.policy.interval = std::chrono::nanoseconds(interval);
        limiter.policy.alignment = static_cast<WindowAlignment>(alignment);
        last_policy = policies.size();
        policies.push_back(limiter.policy);
      } else {
        uint64_t index = last_policy;
        if ((tag & kSamePolicy) == 0 && !r.Varint(&index)) return r.Error("bad policy index");
        if (index >= policies.size()) return r.Error("policy index out of range");
        limiter.policy = policies[index];
        last_policy = index;
      }
      uint8_t algorithm = static_cast<uint8_t>(limiter.policy.algorithm);
      if ((tag & kOwnAlgorithm) != 0 && (!r.Byte(&algorithm) || !KnownAlgorithm(algorithm))) {
        return r.Error("bad state algorithm");
      }
      limiter.state = EmptyStateOf(static_cast<Algorithm>(algorithm));
      bool ok = true;
      std::visit(
          [&](auto& s) {
            using S = std::decay_t<decltype(s)>;
            for (const auto& f : StateFields<S>::kFields) {
              int64_t v = 0;
              ok = ok && r.Signed(&v);
              s.*f.member = IsTime(f.json_name) ? Add(base, v) : v;
            }
            if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
              uint64_t n;
              ok = ok && r.Varint(&n) && n <= body.size();  // each entry takes at least two bytes
              int64_t prev = s.updated_ns;
              for (uint64_t i = 0; ok && i < n; ++i) {
                int64_t d = 0, cost = 0;
                ok = r.Signed(&d) && r.Signed(&cost);
                prev = Add(prev, d);
                s.entries.push_back({prev, cost});
              }
            }
          },
          limiter.state);
      if (!ok) return r.Error("bad state");
      record.value = std::move(limiter);
    }
    ++count;
    if (!visit(std::move(record))) return Status::Ok();
  }
  if (!r.done()) return r.Error("bytes after the end tag");
  if (count != expected) {
    return DataLossError("checkpoint holds " + std::to_string(count) + " records; its trailer says " +
                         std::to_string(expected));
  }
  return Status::Ok();
}

}  // namespace sluice::internal
