// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Layout, chosen for a small footprint per key (about 56 bytes for a token
// bucket at a million keys) and one cache miss per lookup:
//   - each shard keeps its entries densely in fixed-size chunks (deleting moves
//     the last entry into the hole, so sweeping and eviction sampling are plain
//     index loops);
//   - an open-addressing index of uint32 slots (linear probing, backward-shift
//     deletion) maps a key's hash to its entry; each slot carries 8 bits of the
//     hash so most probes never touch a non-matching entry.
// An entry is 48 bytes: the key inline up to 16 bytes (longer keys on the heap),
// the policy as a 16-bit id into the store's policy table, and 24 bytes of state.
// Limiter entries do not store their expiry: it follows from state and policy
// (ExpiresAt), and a key past it decides exactly like a fresh key.

#include "sluice/memory_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "algo/evaluate.h"
#include "store/spin_lock.h"

using sluice::internal::SpinLock;

namespace sluice {
namespace {

__extension__ typedef unsigned __int128 internal_u128;  // NOLINT(modernize-use-using)

uint64_t Mix(uint64_t a, uint64_t b) {
  // 64x64 -> 128-bit multiply, folded (as wyhash does): one instruction of
  // mixing that spreads every input bit.
  const internal_u128 m = static_cast<internal_u128>(a ^ 0xa0761d6478bd642fULL) * (b ^ 0xe7037ed1a0b428dbULL);
  return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Up to 8 bytes, little-endian, zero-padded.
uint64_t LoadTail(const char* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

uint64_t HashKey(std::string_view key) {
  const char* p = key.data();
  const size_t n = key.size();
  uint64_t seed = 0x8ebc6af09c88c6e3ULL ^ n;
  if (n <= 16) {
    // Most keys ("user:12345", "rl:api:...") are short: two loads, one mix.
    const uint64_t a = n > 8 ? Load64(p) : LoadTail(p, n);
    const uint64_t b = n > 8 ? LoadTail(p + 8, n - 8) : 0;
    return Mix(Mix(a, b ^ seed), seed);
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16) seed = Mix(Load64(p + i) ^ seed, Load64(p + i + 8));
  if (i < n) {
    const size_t rest = n - i;
    seed = Mix(LoadTail(p + i, std::min<size_t>(rest, 8)) ^ seed, rest > 8 ? LoadTail(p + i + 8, rest - 8) : 0);
  }
  return Mix(seed, n);
}

// Entry kinds. 0 is opaque bytes; limiter kinds equal their Algorithm value.
constexpr uint8_t kBytesKind = 0;
constexpr uint8_t kInlineKeyMax = 16;
constexpr uint8_t kHeapKey = 0xff;

struct BytesValue {
  int64_t expires_at_ns = 0;
  std::string bytes;
};

struct Entry {
  char key[16];       // inline key, or {char* data; uint32_t size} when key_len == kHeapKey
  uint8_t key_len;    // 0..16, or kHeapKey
  uint8_t kind;       // kBytesKind or an Algorithm
  uint16_t policy_id;
  uint32_t hash;      // low 32 bits of HashKey
  int64_t state[3];   // per kind; see Load/StoreState
};
static_assert(sizeof(Entry) == 48);

struct HeapKey {
  char* data;
  uint32_t size;
};

std::string_view KeyOf(const Entry& e) {
  if (e.key_len != kHeapKey) return {e.key, e.key_len};
  HeapKey hk;
  std::memcpy(&hk, e.key, sizeof(hk));
  return {hk.data, hk.size};
}

void SetKey(Entry& e, std::string_view key) {
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

// Frees what the entry owns on the heap (not the entry itself).
void ReleaseValue(Entry& e) {
  if (e.kind == kBytesKind) {
    delete PointerIn<BytesValue>(e);
  } else if (e.kind == static_cast<uint8_t>(Algorithm::kSlidingWindowLog)) {
    delete PointerIn<SlidingWindowLogState>(e);
  }
  e.state[0] = 0;
}

void ReleaseEntry(Entry& e) {
  ReleaseValue(e);
  if (e.key_len == kHeapKey) {
    HeapKey hk;
    std::memcpy(&hk, e.key, sizeof(hk));
    delete[] hk.data;
    e.key_len = 0;
  }
}

size_t HeapBytes(const Entry& e) {
  size_t n = 0;
  if (e.key_len == kHeapKey) n += KeyOf(e).size() + 16;
  if (e.kind == kBytesKind) {
    n += sizeof(BytesValue) + PointerIn<BytesValue>(e)->bytes.capacity() + 16;
  } else if (e.kind == static_cast<uint8_t>(Algorithm::kSlidingWindowLog)) {
    n += sizeof(SlidingWindowLogState) + PointerIn<SlidingWindowLogState>(e)->entries.capacity() * sizeof(LogEntry) + 32;
  }
  return n;
}

constexpr auto kLogKind = static_cast<uint8_t>(Algorithm::kSlidingWindowLog);

// Typed access to a limiter entry's 24 bytes of state. Take() may move state
// out of the entry (a sliding log), so the caller must Put() it back or
// release the entry; Copy() leaves the entry untouched.
template <typename S>
struct StateSlot;

template <>
struct StateSlot<TokenBucketState> {
  static constexpr auto kKind = static_cast<uint8_t>(Algorithm::kTokenBucket);
  static TokenBucketState Take(Entry& e, const Policy&) { return {e.state[0], e.state[1], e.state[2]}; }
  static TokenBucketState Copy(const Entry& e, const Policy& p) { return Take(const_cast<Entry&>(e), p); }
  static void Fill(Entry& e, TokenBucketState&& s) { e.state[0] = s.tokens, e.state[1] = s.remainder, e.state[2] = s.updated_ns; }
};

template <>
struct StateSlot<GcraState> {
  static constexpr auto kKind = static_cast<uint8_t>(Algorithm::kGcra);
  static GcraState Take(Entry& e, const Policy&) { return {e.state[0], e.state[1], e.state[2]}; }
  static GcraState Copy(const Entry& e, const Policy& p) { return Take(const_cast<Entry&>(e), p); }
  static void Fill(Entry& e, GcraState&& s) { e.state[0] = s.tat_ns, e.state[1] = s.tat_frac, e.state[2] = s.updated_ns; }
};

template <>
struct StateSlot<FixedWindowState> {
  static constexpr auto kKind = static_cast<uint8_t>(Algorithm::kFixedWindow);
  static FixedWindowState Take(Entry& e, const Policy&) { return {e.state[0], e.state[1]}; }
  static FixedWindowState Copy(const Entry& e, const Policy& p) { return Take(const_cast<Entry&>(e), p); }
  static void Fill(Entry& e, FixedWindowState&& s) { e.state[0] = s.window_start_ns, e.state[1] = s.count, e.state[2] = 0; }
};

template <>
struct StateSlot<SlidingWindowCounterState> {
  static constexpr auto kKind = static_cast<uint8_t>(Algorithm::kSlidingWindowCounter);
  // The window start is not stored: it is the window holding updated_ns.
  static SlidingWindowCounterState Take(Entry& e, const Policy& policy) {
    const int64_t w = std::max<int64_t>(1, policy.interval.count());
    const int64_t updated = e.state[2];
    const int64_t start = updated >= 0 ? updated - updated % w : updated - ((updated % w) + w) % w;
    return {start, e.state[0], e.state[1], updated};
  }
  static SlidingWindowCounterState Copy(const Entry& e, const Policy& p) { return Take(const_cast<Entry&>(e), p); }
  static void Fill(Entry& e, SlidingWindowCounterState&& s) {
    e.state[0] = s.current, e.state[1] = s.previous, e.state[2] = s.updated_ns;
  }
};

template <>
struct StateSlot<SlidingWindowLogState> {
  static constexpr auto kKind = static_cast<uint8_t>(Algorithm::kSlidingWindowLog);
  static SlidingWindowLogState Take(Entry& e, const Policy&) { return std::move(*PointerIn<SlidingWindowLogState>(e)); }
  static SlidingWindowLogState Copy(const Entry& e, const Policy&) { return *PointerIn<SlidingWindowLogState>(e); }
  static void Fill(Entry& e, SlidingWindowLogState&& s) { *PointerIn<SlidingWindowLogState>(e) = std::move(s); }
};

template <typename S>
constexpr uint8_t KindOf() {
  return StateSlot<S>::kKind;
}

// Writes `s` into `e`, releasing whatever value the entry owned before (a
// sliding log's heap object is reused). A zeroed entry owns nothing.
template <typename S>
void PutState(Entry& e, S&& s) {
  constexpr uint8_t kind = KindOf<S>();
  const bool reuse_log = kind == kLogKind && e.kind == kLogKind;
  if (!reuse_log && (e.kind == kBytesKind || e.kind == kLogKind)) ReleaseValue(e);
  if (kind == kLogKind && !reuse_log) SetPointer(e, new SlidingWindowLogState());
  e.kind = kind;
  StateSlot<S>::Fill(e, std::move(s));
}

void StoreState(Entry& e, LimiterState&& state) {
  std::visit([&](auto& s) { PutState(e, std::move(s)); }, state);
}

LimiterState CopyState(const Entry& e, const Policy& policy) {
  switch (static_cast<Algorithm>(e.kind)) {
    case Algorithm::kTokenBucket: return StateSlot<TokenBucketState>::Copy(e, policy);
    case Algorithm::kGcra: return StateSlot<GcraState>::Copy(e, policy);
    case Algorithm::kFixedWindow: return StateSlot<FixedWindowState>::Copy(e, policy);
    case Algorithm::kSlidingWindowLog: return StateSlot<SlidingWindowLogState>::Copy(e, policy);
    case Algorithm::kSlidingWindowCounter: return StateSlot<SlidingWindowCounterState>::Copy(e, policy);
  }
  return TokenBucketState{};
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

  // Appends a new entry for `key` (REQUIRES: absent) and returns its index.
  size_t Insert(std::string_view key, uint32_t hash) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    if (size_ == chunks_.size() * kChunkEntries) chunks_.push_back(std::make_unique<Entry[]>(kChunkEntries));
    const size_t id = size_++;
    Entry& e = At(id);
    e = Entry{};
    SetKey(e, key);
    e.hash = hash;
    PlaceSlot(hash, static_cast<uint32_t>(id));
    return id;
  }

  // Removes entry `id`, releasing what it owns; the last entry moves into its place.
  void Erase(size_t id) {
    Entry& e = At(id);
    RemoveSlot(e.hash, static_cast<uint32_t>(id));
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

  size_t MemoryBytes() {
    size_t n = chunks_.size() * kChunkEntries * sizeof(Entry) + slots_.capacity() * sizeof(uint32_t) + sizeof(*this);
    for (size_t i = 0; i < size_; ++i) n += HeapBytes(At(i));
    return n;
  }

  uint64_t NextRandom() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  SpinLock mu;
  // Statistics, guarded by `mu`.
  uint64_t hits = 0, misses = 0, decisions = 0, evictions = 0, expirations = 0;
  // Highest fencing token written per key (only keys written with a token).
  std::unordered_map<std::string, uint64_t> fences;

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
};

// Each store gets a distinct id so that per-thread caches never confuse two
// stores that happen to share an address.
std::atomic<uint64_t> next_store_id{1};

struct PolicyCache {
  uint64_t store_id = 0;
  Policy policy;
  uint16_t id = 0;
};
thread_local PolicyCache policy_cache;

class MemoryStoreImpl final : public MemoryStore {
 public:
  explicit MemoryStoreImpl(const MemoryStoreOptions& options)
      : clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
        store_id_(next_store_id.fetch_add(1)),
        shard_mask_(std::bit_ceil(options.shards) - 1),
        shards_(shard_mask_ + 1),
        max_keys_per_shard_(options.max_keys == 0 ? 0 : (options.max_keys + shard_mask_) / (shard_mask_ + 1)) {
    if (options.sweep_interval.count() > 0) {
      sweeper_ = std::thread([this, interval = options.sweep_interval] { SweepLoop(interval); });
    }
  }

  ~MemoryStoreImpl() override {
    {
      std::lock_guard<std::mutex> lock(sweeper_mu_);
      stopping_ = true;
    }
    sweeper_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
  }

  std::string_view name() const override { return "memory"; }
  Clock& clock() const override { return *clock_; }

  Result<Decision> Decide(const DecideRequest& request) override {
    if (request.policy == nullptr) return InvalidArgumentError("DecideRequest.policy is required");
    SLUICE_RETURN_IF_ERROR(ValidateKey(request.key));
    SLUICE_ASSIGN_OR_RETURN(const uint16_t policy_id, PolicyId(*request.policy));
    const int64_t now = clock_->NowNanos();
    const uint64_t hash = HashKey(request.key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    return DecideLocked(shard, request, policy_id, static_cast<uint32_t>(hash), now, /*apply=*/true, nullptr);
  }

  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    struct Prepared {
      uint64_t hash;
      uint16_t policy_id;
    };
    std::vector<Prepared> prepared;
    prepared.reserve(requests.size());
    std::vector<size_t> shard_ids;
    for (size_t i = 0; i < requests.size(); ++i) {
      const DecideRequest& r = requests[i];
      if (r.policy == nullptr) return InvalidArgumentError("DecideRequest.policy is required");
      SLUICE_RETURN_IF_ERROR(ValidateKey(r.key));
      for (size_t j = 0; j < i; ++j) {
        if (requests[j].key == r.key) {
          return InvalidArgumentError("DecideAll: key \"" + std::string(r.key) + "\" appears twice");
        }
      }
      SLUICE_ASSIGN_OR_RETURN(const uint16_t id, PolicyId(*r.policy));
      const uint64_t hash = HashKey(r.key);
      prepared.push_back({hash, id});
      shard_ids.push_back(hash >> 32 & shard_mask_);
    }
    // Lock every shard involved in ascending order: two DecideAll calls can
    // then never wait on each other in a cycle.
    std::sort(shard_ids.begin(), shard_ids.end());
    shard_ids.erase(std::unique(shard_ids.begin(), shard_ids.end()), shard_ids.end());
    for (size_t s : shard_ids) shards_[s].mu.lock();
    const int64_t now = clock_->NowNanos();

    MultiDecision out;
    out.allowed = true;
    Status failure;
    for (size_t i = 0; i < requests.size() && failure.ok(); ++i) {
      bool denied = false;
      Result<Decision> d = DecideLocked(ShardFor(prepared[i].hash), requests[i], prepared[i].policy_id,
                                        static_cast<uint32_t>(prepared[i].hash), now, /*apply=*/false, &denied);
      if (!d.ok()) {
        failure = d.status();
        break;
      }
      out.allowed = out.allowed && !denied;
      out.decisions.push_back(*d);
    }
    if (failure.ok() && out.allowed) {
      for (size_t i = 0; i < requests.size(); ++i) {
        Result<Decision> d = DecideLocked(ShardFor(prepared[i].hash), requests[i], prepared[i].policy_id,
                                          static_cast<uint32_t>(prepared[i].hash), now, /*apply=*/true, nullptr);
        if (d.ok()) out.decisions[i] = *d;
      }
    }
    for (auto it = shard_ids.rbegin(); it != shard_ids.rend(); ++it) shards_[*it].mu.unlock();
    if (!failure.ok()) return failure;
    return out;
  }

  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const int64_t now = clock_->NowNanos();
    const uint64_t hash = HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    if (options.fencing_token != 0) {
      auto it = shard.fences.find(std::string(key));
      if (it != shard.fences.end() && it->second > options.fencing_token) {
        return FailedPreconditionError("fencing token " + std::to_string(options.fencing_token) +
                                       " is older than token " + std::to_string(it->second) +
                                       " that already wrote this key");
      }
    }
    int64_t id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
    std::optional<Record> current;
    if (id >= 0) current = ToRecord(shard.At(static_cast<size_t>(id)));
    Update update = fn(current ? &*current : nullptr);
    switch (update.action) {
      case Update::Action::kKeep:
        return current;
      case Update::Action::kDelete:
        if (id >= 0) shard.Erase(static_cast<size_t>(id));
        if (options.fencing_token != 0) shard.fences[std::string(key)] = options.fencing_token;
        return std::optional<Record>();
      case Update::Action::kPut: {
        Record record{std::string(key), std::move(update.value), update.expires_at_ns};
        SLUICE_RETURN_IF_ERROR(PutLocked(shard, record, static_cast<uint32_t>(hash), now));
        if (options.fencing_token != 0) shard.fences[std::string(key)] = options.fencing_token;
        id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
        if (id < 0) return std::optional<Record>();
        return std::optional<Record>(ToRecord(shard.At(static_cast<size_t>(id))));
      }
    }
    return InternalError("unknown update action");
  }

  Result<std::optional<Record>> Get(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const int64_t now = clock_->NowNanos();
    const uint64_t hash = HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    const int64_t id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
    if (id < 0) {
      ++shard.misses;
      return std::optional<Record>();
    }
    ++shard.hits;
    return std::optional<Record>(ToRecord(shard.At(static_cast<size_t>(id))));
  }

  Status Put(const Record& record) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(record.key));
    const int64_t now = clock_->NowNanos();
    const uint64_t hash = HashKey(record.key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    return PutLocked(shard, record, static_cast<uint32_t>(hash), now);
  }

  Status Delete(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const uint64_t hash = HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    const int64_t id = shard.Find(key, static_cast<uint32_t>(hash));
    if (id >= 0) shard.Erase(static_cast<size_t>(id));
    return Status::Ok();
  }

  Status Scan(std::string_view prefix, const ScanVisitor& visit) override {
    std::vector<Record> batch;
    for (Shard& shard : shards_) {
      batch.clear();
      {
        const int64_t now = clock_->NowNanos();
        std::lock_guard<SpinLock> lock(shard.mu);
        for (size_t i = 0; i < shard.size(); ++i) {
          const Entry& e = shard.At(i);
          if (!KeyOf(e).starts_with(prefix)) continue;
          const int64_t expires = ExpiryOf(e);
          if (expires != 0 && expires <= now) continue;
          batch.push_back(ToRecord(e));
        }
      }
      // The visitor runs without locks, so it may call back into the store.
      for (const Record& r : batch) {
        if (!visit(r)) return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Status Flush() override { return Status::Ok(); }

  StoreStats Stats() const override {
    StoreStats out;
    for (Shard& shard : shards_) {
      std::lock_guard<SpinLock> lock(shard.mu);
      out.keys += shard.size();
      out.hits += shard.hits;
      out.misses += shard.misses;
      out.decisions += shard.decisions;
      out.evictions += shard.evictions;
      out.expirations += shard.expirations;
      out.memory_bytes += shard.MemoryBytes();
    }
    return out;
  }

  Status Health() override { return Status::Ok(); }

  size_t SweepExpired() override {
    size_t removed = 0;
    for (Shard& shard : shards_) {
      const int64_t now = clock_->NowNanos();
      std::lock_guard<SpinLock> lock(shard.mu);
      for (size_t i = 0; i < shard.size();) {
        const int64_t expires = ExpiryOf(shard.At(i));
        if (expires != 0 && expires <= now) {
          shard.Erase(i);  // the last entry moves to i: look at i again
          ++shard.expirations;
          ++removed;
        } else {
          ++i;
        }
      }
    }
    return removed;
  }

 private:
  Shard& ShardFor(uint64_t hash) const { return shards_[(hash >> 32) & shard_mask_]; }

  // Maps a policy to its 16-bit id, adding it to the table on first use. The
  // per-thread cache makes the common case (same policy as last time) a
  // comparison of five fields.
  Result<uint16_t> PolicyId(const Policy& policy) {
    PolicyCache& cache = policy_cache;
    if (cache.store_id == store_id_ && cache.policy == policy) [[likely]] return cache.id;
    SLUICE_RETURN_IF_ERROR(policy.Validate());
    std::unique_lock<std::shared_mutex> lock(policies_mu_);
    uint16_t id = 0;
    auto it = policy_ids_.find(policy.Fingerprint());
    if (it != policy_ids_.end() && policies_[it->second] == policy) {
      id = it->second;
    } else {
      if (policies_.size() >= 0xffff) {
        return ResourceExhaustedError("memory store: more than 65535 distinct policies");
      }
      id = static_cast<uint16_t>(policies_.size());
      policies_.push_back(policy);
      policy_ids_[policy.Fingerprint()] = id;
    }
    cache = {store_id_, policy, id};
    return id;
  }

  const Policy& PolicyById(uint16_t id) const {
    std::shared_lock<std::shared_mutex> lock(policies_mu_);
    return policies_[id];  // a deque: references stay valid as it grows
  }

  int64_t ExpiryOf(const Entry& e) const {
    if (e.kind == kBytesKind) return PointerIn<BytesValue>(e)->expires_at_ns;
    const Policy& policy = PolicyById(e.policy_id);
    return ExpiresAt(policy, CopyStateForExpiry(e, policy));
  }

  static LimiterState CopyStateForExpiry(const Entry& e, const Policy& policy) {
    if (e.kind == static_cast<uint8_t>(Algorithm::kSlidingWindowLog)) {
      // Only the last entry and updated_ns decide a log's expiry.
      const auto* log = PointerIn<SlidingWindowLogState>(e);
      SlidingWindowLogState tail{{}, log->updated_ns};
      if (!log->entries.empty()) tail.entries.push_back(log->entries.back());
      return tail;
    }
    return CopyState(e, policy);
  }

  // The entry for `key` if present and not expired; an expired one is dropped.
  int64_t LiveEntry(Shard& shard, std::string_view key, uint32_t hash, int64_t now) {
    const int64_t id = shard.Find(key, hash);
    if (id < 0) return -1;
    const int64_t expires = ExpiryOf(shard.At(static_cast<size_t>(id)));
    if (expires != 0 && expires <= now) {
      shard.Erase(static_cast<size_t>(id));
      ++shard.expirations;
      return -1;
    }
    return id;
  }

  Record ToRecord(const Entry& e) const {
    Record r;
    r.key = std::string(KeyOf(e));
    if (e.kind == kBytesKind) {
      const auto* v = PointerIn<BytesValue>(e);
      r.value = v->bytes;
      r.expires_at_ns = v->expires_at_ns;
    } else {
      const Policy& policy = PolicyById(e.policy_id);
      LimiterRecord lr{policy, CopyState(e, policy)};
      r.expires_at_ns = ExpiresAt(policy, lr.state);
      r.value = std::move(lr);
    }
    return r;
  }

  // Makes room for one more key in `shard` if it is at its cap: evicts the
  // entry expiring soonest among a few random ones (never `keep`).
  void MakeRoom(Shard& shard) {
    if (max_keys_per_shard_ == 0 || shard.size() < max_keys_per_shard_) return;
    constexpr int kSamples = 5;
    size_t victim = 0;
    int64_t victim_expiry = 0;
    for (int i = 0; i < kSamples; ++i) {
      const size_t id = shard.NextRandom() % shard.size();
      int64_t expiry = ExpiryOf(shard.At(id));
      if (expiry == 0) expiry = INT64_MAX;  // never-expiring keys go last
      if (i == 0 || expiry < victim_expiry) {
        victim = id;
        victim_expiry = expiry;
      }
    }
    shard.Erase(victim);
    ++shard.evictions;
  }

  Result<Decision> DecideLocked(Shard& shard, const DecideRequest& request, uint16_t policy_id, uint32_t hash,
                                int64_t now, bool apply, bool* denied) {
    SLUICE_RETURN_IF_ERROR(internal::CheckCost(*request.policy, request.op, request.cost));
    switch (request.policy->algorithm) {
      case Algorithm::kTokenBucket:
        return DecideTyped<TokenBucketState>(shard, request, policy_id, hash, now, apply, denied);
      case Algorithm::kGcra:
        return DecideTyped<GcraState>(shard, request, policy_id, hash, now, apply, denied);
      case Algorithm::kFixedWindow:
        return DecideTyped<FixedWindowState>(shard, request, policy_id, hash, now, apply, denied);
      case Algorithm::kSlidingWindowLog:
        return DecideTyped<SlidingWindowLogState>(shard, request, policy_id, hash, now, apply, denied);
      case Algorithm::kSlidingWindowCounter:
        return DecideTyped<SlidingWindowCounterState>(shard, request, policy_id, hash, now, apply, denied);
    }
    return InternalError("unknown algorithm");
  }

  // One decision on the concrete state type, under the shard's lock. The
  // policy was validated when it got its id; the cost has been checked.
  // Without `apply` (the first pass of DecideAll) nothing is written.
  template <typename S>
  Decision DecideTyped(Shard& shard, const DecideRequest& request, uint16_t policy_id, uint32_t hash, int64_t now,
                       bool apply, bool* denied) {
    const Policy& policy = *request.policy;
    const int64_t found = shard.Find(request.key, hash);
    Entry* entry = found >= 0 ? &shard.At(static_cast<size_t>(found)) : nullptr;
    const bool have = entry != nullptr && entry->kind == KindOf<S>();
    if (entry != nullptr) {
      ++shard.hits;
    } else {
      ++shard.misses;
    }
    S state = have ? (apply ? StateSlot<S>::Take(*entry, policy) : StateSlot<S>::Copy(*entry, policy))
                   : std::get<S>(FreshState(policy, now));
    const Operation op = !apply && request.op == Operation::kConsume ? Operation::kPeek : request.op;
    Evaluation ev = internal::Eval(policy, state, op, request.cost, now);
    if (denied != nullptr) *denied = !ev.decision.allowed;
    if (!apply) {
      if (request.op == Operation::kConsume && ev.decision.allowed) {
        // Report what the consume would leave.
        ev.decision.remaining = std::max<int64_t>(0, ev.decision.remaining - request.cost);
      }
      return ev.decision;
    }
    ++shard.decisions;
    // A state that is already fresh is the same as no state: keep no key for it.
    const bool fresh_after = ev.expires_at_ns <= now;
    if (entry != nullptr) {
      if (fresh_after) {
        shard.Erase(static_cast<size_t>(found));
      } else {
        PutState(*entry, std::move(state));
        entry->policy_id = policy_id;
      }
    } else if (!fresh_after && ev.changed) {
      MakeRoom(shard);
      Entry& e = shard.At(shard.Insert(request.key, hash));
      PutState(e, std::move(state));
      e.policy_id = policy_id;
    }
    return ev.decision;
  }

  Status PutLocked(Shard& shard, const Record& record, uint32_t hash, int64_t now) {
    int64_t id = shard.Find(record.key, hash);
    if (const auto* lr = std::get_if<LimiterRecord>(&record.value)) {
      SLUICE_RETURN_IF_ERROR(ValidateState(lr->policy, lr->state, now).WithContext("record \"" + record.key + "\""));
      SLUICE_ASSIGN_OR_RETURN(const uint16_t policy_id, PolicyId(lr->policy));
      if (ExpiresAt(lr->policy, lr->state) <= now) {
        if (id >= 0) shard.Erase(static_cast<size_t>(id));
        return Status::Ok();
      }
      if (id < 0) {
        MakeRoom(shard);
        id = static_cast<int64_t>(shard.Insert(record.key, hash));
      }
      Entry& e = shard.At(static_cast<size_t>(id));
      LimiterState copy = lr->state;
      StoreState(e, std::move(copy));
      e.policy_id = policy_id;
      return Status::Ok();
    }
    const auto& bytes = std::get<std::string>(record.value);
    if (record.expires_at_ns != 0 && record.expires_at_ns <= now) {
      if (id >= 0) shard.Erase(static_cast<size_t>(id));
      return Status::Ok();
    }
    bool inserted = false;
    if (id < 0) {
      MakeRoom(shard);
      id = static_cast<int64_t>(shard.Insert(record.key, hash));
      inserted = true;
    }
    Entry& e = shard.At(static_cast<size_t>(id));
    if (e.kind == kBytesKind && !inserted) {
      auto* v = PointerIn<BytesValue>(e);
      v->bytes = bytes;
      v->expires_at_ns = record.expires_at_ns;
    } else {
      if (e.kind == static_cast<uint8_t>(Algorithm::kSlidingWindowLog)) ReleaseValue(e);
      SetPointer(e, new BytesValue{record.expires_at_ns, bytes});
      e.kind = kBytesKind;
      e.policy_id = 0;
    }
    return Status::Ok();
  }

  void SweepLoop(std::chrono::nanoseconds interval) {
    std::unique_lock<std::mutex> lock(sweeper_mu_);
    while (!stopping_) {
      // Scheduling only: expiry itself is judged by the injected clock.
      sweeper_cv_.wait_for(lock, interval, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      SweepExpired();
      lock.lock();
    }
  }

  Clock* clock_;
  const uint64_t store_id_;
  const size_t shard_mask_;
  mutable std::vector<Shard> shards_;
  const size_t max_keys_per_shard_;

  mutable std::shared_mutex policies_mu_;
  std::deque<Policy> policies_;
  std::unordered_map<uint64_t, uint16_t> policy_ids_;

  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace

Result<std::unique_ptr<MemoryStore>> MemoryStore::Create(MemoryStoreOptions options) {
  if (options.shards == 0) return InvalidArgumentError("MemoryStoreOptions.shards must be at least 1");
  if (options.shards > 4096) return InvalidArgumentError("MemoryStoreOptions.shards must be at most 4096");
  if (options.sweep_interval.count() < 0) return InvalidArgumentError("MemoryStoreOptions.sweep_interval is negative");
  return std::unique_ptr<MemoryStore>(std::make_unique<MemoryStoreImpl>(options));
}

}  // namespace sluice
