// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "rocksdb_record.h"

#include <cstring>
#include <type_traits>
#include <utility>

#include "internal/state_fields.h"

namespace sluice::rocksdb {
namespace {

void PutU64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}

void PutI64(std::string& out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// A bounds-checked reader over one value.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool I64(int64_t* v) {
    if (in_.size() - pos_ < 8) return false;
    *v = static_cast<int64_t>(GetU64(in_.data() + pos_));
    pos_ += 8;
    return true;
  }
  bool U8(uint8_t* v) {
    if (pos_ >= in_.size()) return false;
    *v = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) {
    if (in_.size() - pos_ < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i)
      r |= static_cast<uint32_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    pos_ += 4;
    *v = r;
    return true;
  }
  size_t left() const { return in_.size() - pos_; }
  std::string_view Rest() {
    std::string_view r = in_.substr(pos_);
    pos_ = in_.size();
    return r;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

Status Corrupt(std::string_view what) {
  return DataLossError("rocksdb store: corrupt record: " + std::string(what));
}

}  // namespace

std::string DataKey(std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1);
  k.push_back(kDataPrefix);
  k.append(key);
  return k;
}

std::string EncodeStoredValue(const StoredValue& stored) {
  std::string out;
  const auto* lr = std::get_if<LimiterRecord>(&stored.value);
  out.push_back(static_cast<char>(lr == nullptr ? 0 : static_cast<uint8_t>(lr->policy.algorithm)));
  PutI64(out, stored.expires_at_ns);
  PutU64(out, stored.fencing_token);
  if (lr == nullptr) {
    out.append(std::get<std::string>(stored.value));
    return out;
  }
  const Policy& p = lr->policy;
  PutI64(out, p.limit);
  PutI64(out, p.refill_amount);
  PutI64(out, p.interval.count());
  out.push_back(static_cast<char>(p.alignment));
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        for (const auto& f : internal::StateFields<S>::kFields) PutI64(out, s.*f.member);
        if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
          const auto n = static_cast<uint32_t>(s.entries.size());
          for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
          for (const LogEntry& e : s.entries) {
            PutI64(out, e.time_ns);
            PutI64(out, e.cost);
          }
        }
      },
      lr->state);
  return out;
}

Result<StoredValue> DecodeStoredValue(std::string_view bytes) {
  Reader r(bytes);
  uint8_t kind = 0;
  StoredValue out;
  int64_t fence = 0;
  if (!r.U8(&kind) || !r.I64(&out.expires_at_ns) || !r.I64(&fence)) return Corrupt("truncated header");
  out.fencing_token = static_cast<uint64_t>(fence);
  if (kind == 0) {
    out.value = std::string(r.Rest());
    return out;
  }
  if (kind > static_cast<uint8_t>(Algorithm::kSlidingWindowCounter)) {
    return Corrupt("unknown kind " + std::to_string(kind));
  }
  Policy p;
  p.algorithm = static_cast<Algorithm>(kind);
  int64_t interval = 0;
  uint8_t alignment = 0;
  if (!r.I64(&p.limit) || !r.I64(&p.refill_amount) || !r.I64(&interval) || !r.U8(&alignment)) {
    return Corrupt("truncated policy");
  }
  p.interval = std::chrono::nanoseconds(interval);
  p.alignment = static_cast<WindowAlignment>(alignment);
  if (Status s = p.Validate(); !s.ok()) return Corrupt("invalid policy: " + std::string(s.message()));
  bool short_read = false;
  Result<LimiterState> state = internal::WithStateType(p.algorithm, [&](auto type) -> Result<LimiterState> {
    using S = typename decltype(type)::type;
    S s{};
    for (const auto& f : internal::StateFields<S>::kFields) {
      if (!r.I64(&(s.*f.member))) short_read = true;
    }
    if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
      uint32_t n = 0;
      if (!r.U32(&n) || n > r.left() / 16) {
        short_read = true;
      } else {
        s.entries.resize(n);
        for (LogEntry& e : s.entries) {
          r.I64(&e.time_ns);
          r.I64(&e.cost);
        }
      }
    }
    return LimiterState(std::move(s));
  });
  if (!state.ok()) return Corrupt(state.status().message());
  if (short_read) return Corrupt("truncated state");
  if (r.left() != 0) return Corrupt(std::to_string(r.left()) + " trailing bytes");
  out.value = LimiterRecord{p, std::move(*state)};
  return out;
}

int64_t EncodedExpiry(std::string_view bytes) {
  if (bytes.size() < kValueHeaderBytes) return 0;
  return static_cast<int64_t>(GetU64(bytes.data() + kExpiryOffset));
}

}  // namespace sluice::rocksdb
