// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The memory store's table: a shard's entries, their layout and what they own.
//
// An entry is 48 bytes: the key inline up to 16 bytes (longer keys on the
// heap), its kind (opaque bytes or an algorithm), a bit saying whether the
// shard's side table holds a fencing token for it, a 16-bit policy id, 32 bits
// of the key's hash, and 24 bytes of state laid out from the state field table
// (internal/state_fields.h). Bytes and sliding logs live on the heap, the entry
// points to them.
//
// A Shard keeps its entries densely in fixed-size chunks (deleting moves the
// last entry into the hole, so sweeping and eviction sampling are plain index
// loops) and indexes them with an open-addressing table of uint32 slots
// (linear probing, backward-shift deletion), each carrying 8 bits of the hash
// so most probes never touch a non-matching entry. It keeps count of the heap
// bytes its entries own as they change.
//
// Internal: no API promise. Not thread-safe: the store guards each Shard with
// its `mu`.

#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "internal/state_fields.h"
#include "sluice/algorithms.h"
#include "store/spin_lock.h"

namespace sluice::internal::memory {

// Entry kinds. 0 is opaque bytes; limiter kinds equal their Algorithm value.
constexpr uint8_t kBytesKind = 0;
constexpr uint8_t kInlineKeyMax = 16;
constexpr uint8_t kHeapKey = 0xff;

struct BytesValue {
  int64_t expires_at_ns = 0;
  std::string bytes;
};

struct Entry {
  char key[16];         // inline key, or {char* data; uint32_t size} when key_len == kHeapKey
  uint8_t key_len;      // 0..16, or kHeapKey
  uint8_t kind : 7;     // kBytesKind or an Algorithm
  uint8_t fenced : 1;   // the shard's fence map holds this key's fencing token
  uint16_t policy_id;   // limiter kinds: the policy's id (holds one reference to it)
  uint32_t hash;        // low 32 bits of HashKey
  int64_t state[3];     // per kind; see StateSlot
};
static_assert(sizeof(Entry) == 48);

inline void SetKind(Entry& e, uint8_t kind) { e.kind = kind & 0x7f; }

struct HeapKey {
  char* data;
  uint32_t size;
};

inline std::string_view KeyOf(const Entry& e) {
  if (e.key_len != kHeapKey) return {e.key, e.key_len};
  HeapKey hk;
  std::memcpy(&hk, e.key, sizeof(hk));
  return {hk.data, hk.size};
}

inline void SetKey(Entry& e, std::string_view key) {
  if (key.size() <= kInlineKeyMax) {
    std::memcpy(e.key, key.data(), key.size());
    e.key_len = static_cast<uint8_t>(key.size());
    return;
  }
  HeapKey hk{new char[key.size()], static_cast<uint32_t>(key.size())};
  std::memcpy(hk.data, key.data(), key.size());
  std::memcpy(e.key, &hk, sizeof(hk));
  e.key_len = kHeapKey;
}

template <typename T>
T* PointerIn(const Entry& e) {
  T* p;
  std::memcpy(&p, &e.state[0], sizeof(p));
  return p;
}

template <typename T>
void SetPointer(Entry& e, T* p) {
  std::memcpy(&e.state[0], &p, sizeof(p));
}

constexpr auto kLogKind = static_cast<uint8_t>(Algorithm::kSlidingWindowLog);

// Kinds whose value lives on the heap (a freshly inserted, zeroed entry is a
// bytes entry without a value yet).
inline bool HasHeapValue(uint8_t kind) { return kind == kBytesKind || kind == kLogKind; }

// Frees what the entry owns on the heap (not the entry itself).
inline void ReleaseValue(Entry& e) {
  if (e.kind == kBytesKind) {
    delete PointerIn<BytesValue>(e);
  } else if (e.kind == kLogKind) {
    delete PointerIn<SlidingWindowLogState>(e);
  }
  e.state[0] = 0;
}

inline void ReleaseEntry(Entry& e) {
  ReleaseValue(e);
  if (e.key_len == kHeapKey) {
    HeapKey hk;
    std::memcpy(&hk, e.key, sizeof(hk));
    delete[] hk.data;
    e.key_len = 0;
  }
}

// Heap bytes held by the entry's value, an estimate including allocator overhead.
inline size_t ValueHeapBytes(const Entry& e) {
  if (e.kind == kBytesKind) {
    const auto* v = PointerIn<BytesValue>(e);
    return v == nullptr ? 0 : sizeof(BytesValue) + v->bytes.capacity() + 16;
  }
  if (e.kind == kLogKind) {
    const auto* log = PointerIn<SlidingWindowLogState>(e);
    return log == nullptr ? 0 : sizeof(SlidingWindowLogState) + log->entries.capacity() * sizeof(LogEntry) + 32;
  }
  return 0;
}

inline size_t KeyHeapBytes(const Entry& e) { return e.key_len == kHeapKey ? KeyOf(e).size() + 16 : 0; }

// A fence-map node: the key's bytes plus the node, its hash and bucket slot.
inline size_t FenceBytes(std::string_view key) { return key.size() + 64; }

// --- limiter state in an entry's three slots --------------------------------------

// The entry kind of state type S: its LimiterState index + 1, which is its
// Algorithm value.
template <typename S, size_t I = 0>
constexpr uint8_t KindOf() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, LimiterState>, S>) {
    return static_cast<uint8_t>(I + 1);
  } else {
    return KindOf<S, I + 1>();
  }
}

// Fields of the state table that the memory store does not keep because they
// follow from the others: a sliding window counter's window start is the
// window holding updated_ns.
template <typename S>
constexpr bool IsDerived(int64_t S::*member) {
  if constexpr (std::is_same_v<S, SlidingWindowCounterState>) {
    return member == &SlidingWindowCounterState::window_start_ns;
  } else {
    return false;
  }
}

template <typename S>
void DeriveFields(S&, const Policy&) {}

inline void DeriveFields(SlidingWindowCounterState& s, const Policy& policy) {
  const int64_t w = std::max<int64_t>(1, policy.interval.count());
  const int64_t updated = s.updated_ns;
  s.window_start_ns = updated >= 0 ? updated - updated % w : updated - ((updated % w) + w) % w;
}

// The slot of each field of internal::StateFields<S>, in table order: stored
// fields fill slots 0, 1, 2 in order; a derived field has slot -1.
template <typename S>
constexpr auto SlotsOf() {
  constexpr const auto& fields = internal::StateFields<S>::kFields;
  std::array<int, fields.size()> slots{};
  int next = 0;
  for (size_t i = 0; i < fields.size(); ++i) slots[i] = IsDerived<S>(fields[i].member) ? -1 : next++;
  return slots;
}

template <typename S>
constexpr int StoredFieldCount() {
  int n = 0;
  for (int slot : SlotsOf<S>()) n += slot >= 0 ? 1 : 0;
  return n;
}

// Typed access to a limiter entry's 24 bytes of state. Take() may move state
// out of the entry (a sliding log), so the caller must Fill() it back or
// release the entry; Copy() leaves the entry untouched.
template <typename S>
struct StateSlot {
  static constexpr uint8_t kKind = KindOf<S>();
  static constexpr auto kSlots = SlotsOf<S>();
  static_assert(StoredFieldCount<S>() <= 3, "an entry holds three int64 state fields");

  static S Copy(const Entry& e, const Policy& policy) {
    S s{};
    Load(s, e, std::make_index_sequence<kSlots.size()>{});
    DeriveFields(s, policy);
    return s;
  }
  static S Take(Entry& e, const Policy& policy) { return Copy(e, policy); }
  static void Fill(Entry& e, S&& s) {
    Store(e, s, std::make_index_sequence<kSlots.size()>{});
    for (int slot = StoredFieldCount<S>(); slot < 3; ++slot) e.state[slot] = 0;
  }

 private:
  template <size_t I>
  static void LoadField(S& s, const Entry& e) {
    if constexpr (kSlots[I] >= 0) s.*(internal::StateFields<S>::kFields[I].member) = e.state[kSlots[I]];
  }
  template <size_t I>
  static void StoreField(Entry& e, const S& s) {
    if constexpr (kSlots[I] >= 0) e.state[kSlots[I]] = s.*(internal::StateFields<S>::kFields[I].member);
  }
  template <size_t... I>
  static void Load(S& s, const Entry& e, std::index_sequence<I...>) {
    (LoadField<I>(s, e), ...);
  }
  template <size_t... I>
  static void Store(Entry& e, const S& s, std::index_sequence<I...>) {
    (StoreField<I>(e, s), ...);
  }
};

// A sliding log does not fit: it lives on the heap, the entry points to it.
template <>
struct StateSlot<SlidingWindowLogState> {
  static constexpr uint8_t kKind = KindOf<SlidingWindowLogState>();
  static SlidingWindowLogState Take(Entry& e, const Policy&) { return std::move(*PointerIn<SlidingWindowLogState>(e)); }
  static SlidingWindowLogState Copy(const Entry& e, const Policy&) { return *PointerIn<SlidingWindowLogState>(e); }
  static void Fill(Entry& e, SlidingWindowLogState&& s) { *PointerIn<SlidingWindowLogState>(e) = std::move(s); }
};
static_assert(StateSlot<SlidingWindowLogState>::kKind == kLogKind);

// Writes `s` into `e`, releasing whatever value the entry owned before (a
// sliding log's heap object is reused). A zeroed entry owns nothing.
template <typename S>
void PutState(Entry& e, S&& s) {
  constexpr uint8_t kind = StateSlot<S>::kKind;
  const bool reuse_log = kind == kLogKind && e.kind == kLogKind;
  if (!reuse_log && HasHeapValue(e.kind)) ReleaseValue(e);
  if (kind == kLogKind && !reuse_log) SetPointer(e, new SlidingWindowLogState());
  SetKind(e, kind);
  StateSlot<S>::Fill(e, std::move(s));
}

inline void StoreState(Entry& e, LimiterState&& state) {
  std::visit([&](auto& s) { PutState(e, std::move(s)); }, state);
}

inline LimiterState CopyState(const Entry& e, const Policy& policy) {
  LimiterState out;
  internal::VisitStateType(static_cast<Algorithm>(e.kind), [&]<typename S>(std::type_identity<S>) {
    out = StateSlot<S>::Copy(e, policy);
  });
  return out;
}

class alignas(64) Shard {
 public:
  static constexpr size_t kChunkEntries = 512;
  static constexpr uint32_t kEmpty = 0;
  static constexpr uint32_t kIdBits = 24;  // up to 16M entries per shard
  static constexpr uint32_t kIdMask = (1u << kIdBits) - 1;

  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    for (size_t i = 0; i < size_; ++i) ReleaseEntry(At(i));
  }

  size_t size() const { return size_; }
  Entry& At(size_t i) { return chunks_[i / kChunkEntries][i % kChunkEntries]; }

  // Index of the entry holding `key`, or -1.
  int64_t Find(std::string_view key, uint32_t hash) {
    if (slots_.empty()) return -1;
    const uint32_t tag = hash >> kIdBits;
    // Inline keys are zero-padded, so a short key compares as two words.
    const bool inline_key = key.size() <= kInlineKeyMax;
    char padded[kInlineKeyMax] = {};
    if (inline_key) std::memcpy(padded, key.data(), key.size());
    for (size_t pos = hash & mask_;; pos = (pos + 1) & mask_) {
      const uint32_t slot = slots_[pos];
      if (slot == kEmpty) return -1;
      if ((slot >> kIdBits) == tag) {
        const uint32_t id = (slot & kIdMask) - 1;
        Entry& e = At(id);
        if (e.hash != hash) continue;
        if (inline_key) {
          if (e.key_len == key.size() && std::memcmp(e.key, padded, kInlineKeyMax) == 0) return id;
        } else if (KeyOf(e) == key) {
          return id;
        }
      }
    }
  }

  // Appends a new entry for `key` (REQUIRES: absent) and returns its index. The
  // entry is zeroed: a bytes entry without a value, no policy, no fence.
  size_t Insert(std::string_view key, uint32_t hash) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    if (size_ == chunks_.size() * kChunkEntries) chunks_.push_back(std::make_unique<Entry[]>(kChunkEntries));
    const size_t id = size_++;
    Entry& e = At(id);
    e = Entry{};
    SetKey(e, key);
    e.hash = hash;
    heap_bytes += KeyHeapBytes(e);
    PlaceSlot(hash, static_cast<uint32_t>(id));
    return id;
  }

  // Removes entry `id` with its fence, releasing what it owns; the last entry
  // moves into its place. The caller has dropped its policy reference.
  void Erase(size_t id) {
    Entry& e = At(id);
    RemoveSlot(e.hash, static_cast<uint32_t>(id));
    if (e.fenced) {
      fences_.erase(std::string(KeyOf(e)));
      heap_bytes -= FenceBytes(KeyOf(e));
    }
    heap_bytes -= KeyHeapBytes(e) + ValueHeapBytes(e);
    ReleaseEntry(e);
    const size_t last = size_ - 1;
    if (id != last) {
      Entry& moved = At(last);
      RetargetSlot(moved.hash, static_cast<uint32_t>(last), static_cast<uint32_t>(id));
      e = moved;
    }
    --size_;
    if (chunks_.size() > 1 && size_ + kChunkEntries <= (chunks_.size() - 1) * kChunkEntries) chunks_.pop_back();
    if (size_ == 0) {
      slots_.clear();
      slots_.shrink_to_fit();
      mask_ = 0;
    }
  }

  // The fencing token that wrote entry `e`, 0 if none did.
  uint64_t FenceOf(const Entry& e) const {
    if (!e.fenced) return 0;
    auto it = fences_.find(std::string(KeyOf(e)));
    return it == fences_.end() ? 0 : it->second;
  }

  // Raises entry `e`'s fence to `token` (never lowers it).
  void RaiseFence(Entry& e, uint64_t token) {
    if (token == 0) return;
    if (!e.fenced) {
      fences_.emplace(std::string(KeyOf(e)), token);
      heap_bytes += FenceBytes(KeyOf(e));
      e.fenced = 1;
      return;
    }
    uint64_t& fence = fences_[std::string(KeyOf(e))];
    fence = std::max(fence, token);
  }

  // What the shard holds, in bytes: the tables plus what entries own on the heap.
  size_t MemoryBytes() const {
    return chunks_.size() * kChunkEntries * sizeof(Entry) + slots_.capacity() * sizeof(uint32_t) + sizeof(*this) +
           heap_bytes;
  }

  uint64_t NextRandom() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  internal::SpinLock mu;
  // Statistics, guarded by `mu`.
  uint64_t hits = 0, misses = 0, decisions = 0, evictions = 0, evictions_active = 0, expirations = 0;
  // Heap bytes owned by this shard's entries (keys, values, fences), kept up
  // to date on every change so that Stats() need not walk the keys. Guarded by `mu`.
  uint64_t heap_bytes = 0;

 private:
  void PlaceSlot(uint32_t hash, uint32_t id) {
    size_t pos = hash & mask_;
    while (slots_[pos] != kEmpty) pos = (pos + 1) & mask_;
    slots_[pos] = ((hash >> kIdBits) << kIdBits) | (id + 1);
  }

  size_t SlotOf(uint32_t hash, uint32_t id) const {
    size_t pos = hash & mask_;
    while ((slots_[pos] & kIdMask) != id + 1) pos = (pos + 1) & mask_;
    return pos;
  }

  void RetargetSlot(uint32_t hash, uint32_t from, uint32_t to) {
    const size_t pos = SlotOf(hash, from);
    slots_[pos] = (slots_[pos] & ~kIdMask) | (to + 1);
  }

  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  void RemoveSlot(uint32_t hash, uint32_t id) {
    size_t hole = SlotOf(hash, id);
    size_t pos = hole;
    for (;;) {
      pos = (pos + 1) & mask_;
      const uint32_t slot = slots_[pos];
      if (slot == kEmpty) break;
      const size_t home = At((slot & kIdMask) - 1).hash & mask_;
      // Move the slot back if its home is not cyclically within (hole, pos].
      const bool stays = hole <= pos ? (home > hole && home <= pos) : (home > hole || home <= pos);
      if (!stays) {
        slots_[hole] = slot;
        hole = pos;
      }
    }
    slots_[hole] = kEmpty;
  }

  void Grow() {
    const size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
    slots_.assign(capacity, kEmpty);
    mask_ = capacity - 1;
    for (size_t i = 0; i < size_; ++i) PlaceSlot(At(i).hash, static_cast<uint32_t>(i));
  }

  std::vector<std::unique_ptr<Entry[]>> chunks_;
  std::vector<uint32_t> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  uint64_t rng_ = 0x2545F4914F6CDD1DULL;
  // Fencing tokens of the entries that have one (Entry::fenced); a fence is
  // erased with its entry, so the map never outgrows the keys.
  std::unordered_map<std::string, uint64_t> fences_;
};

}  // namespace sluice::internal::memory
