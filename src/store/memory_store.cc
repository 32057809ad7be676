// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The memory store: shards of entries (store/memory_shard.h) found by a key
// hash (store/key_hash.h), policies interned to small ids (store/policy_table.h),
// and here the Store calls, the store's time, the key cap and its eviction,
// and the sweeper. The layout is chosen for a small footprint per key (about
// 56 bytes for a token bucket at a million keys) and one cache miss per lookup.
// Limiter entries do not store their expiry: it follows from state and policy
// (ExpiresAt), and a key past it decides exactly like a fresh key.

#include "sluice/memory_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "algo/evaluate.h"
#include "internal/expiry.h"
#include "store/key_hash.h"
#include "store/memory_shard.h"
#include "store/policy_table.h"
#include "store/spin_lock.h"

namespace sluice {
namespace {

using internal::SpinLock;
using internal::memory::BytesValue;
using internal::memory::CopyState;
using internal::memory::Entry;
using internal::memory::HashKey;
using internal::memory::HasHeapValue;
using internal::memory::KeyOf;
using internal::memory::kBytesKind;
using internal::memory::kLogKind;
using internal::memory::PointerIn;
using internal::memory::PolicyRef;
using internal::memory::PolicyTable;
using internal::memory::PutState;
using internal::memory::ReleaseValue;
using internal::memory::SetKind;
using internal::memory::SetPointer;
using internal::memory::Shard;
using internal::memory::StateSlot;
using internal::memory::StoreState;
using internal::memory::ValueHeapBytes;

// --- the store ----------------------------------------------------------------------

// Each store gets a distinct id so that per-thread caches never confuse two
// stores that happen to share an address.
std::atomic<uint64_t> next_store_id{1};

struct PolicyCache {
  uint64_t store_id = 0;
  uint64_t generation = 0;
  Policy policy;
  uint16_t id = 0;
};
thread_local PolicyCache policy_cache;

// Why an entry is removed.
enum class Removal : uint8_t {
  kDropped,  // deleted, replaced by nothing, or fresh again
  kExpired,  // found expired
  kEvicted,  // evicted to make room: its place in the key count goes to the new key
};

class MemoryStoreImpl final : public MemoryStore {
 public:
  explicit MemoryStoreImpl(const MemoryStoreOptions& options)
      : clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
        observer_(options.observer),
        store_id_(next_store_id.fetch_add(1)),
        shard_mask_(std::bit_ceil(options.shards) - 1),
        shards_(shard_mask_ + 1),
        max_keys_(options.max_keys) {
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
    const uint64_t hash = HashKey(request.key);
    const size_t shard_index = ShardIndex(hash);
    Shard& shard = shards_[shard_index];
    for (;;) {
      PolicyRef policy;
      if (!CachedPolicyId(*request.policy, policy)) [[unlikely]] {
        SLUICE_ASSIGN_OR_RETURN(policy, InternPolicy(*request.policy));
      }
      const int64_t now = Now();
      std::lock_guard<SpinLock> lock(shard.mu);
      if (policy.generation != policies_.generation()) [[unlikely]] continue;  // the id may be reused: look again
      return DecideLocked(shard, request,
                          Step{policy.id, static_cast<uint32_t>(hash), now, /*apply=*/true, nullptr, {&shard_index, 1}});
    }
  }

  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    struct Prepared {
      uint64_t hash;
      PolicyRef policy;
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
      const uint64_t hash = HashKey(r.key);
      prepared.push_back({hash, {}});
      shard_ids.push_back(ShardIndex(hash));
    }
    // Lock every shard involved in ascending order: two DecideAll calls can
    // then never wait on each other in a cycle.
    std::sort(shard_ids.begin(), shard_ids.end());
    shard_ids.erase(std::unique(shard_ids.begin(), shard_ids.end()), shard_ids.end());
    for (;;) {
      for (size_t i = 0; i < requests.size(); ++i) {
        SLUICE_ASSIGN_OR_RETURN(prepared[i].policy, PolicyId(*requests[i].policy));
      }
      for (size_t s : shard_ids) shards_[s].mu.lock();
      const uint64_t generation = policies_.generation();
      if (std::all_of(prepared.begin(), prepared.end(),
                      [&](const Prepared& p) { return p.policy.generation == generation; })) [[likely]] {
        break;
      }
      for (auto it = shard_ids.rbegin(); it != shard_ids.rend(); ++it) shards_[*it].mu.unlock();
    }
    const int64_t now = Now();

    MultiDecision out;
    out.allowed = true;
    Status failure;
    for (size_t i = 0; i < requests.size() && failure.ok(); ++i) {
      bool denied = false;
      Result<Decision> d =
          DecideLocked(ShardFor(prepared[i].hash), requests[i],
                       Step{prepared[i].policy.id, static_cast<uint32_t>(prepared[i].hash), now, /*apply=*/false,
                            &denied, shard_ids});
      if (!d.ok()) {
        failure = d.status();
        break;
      }
      out.allowed = out.allowed && !denied;
      out.decisions.push_back(*d);
    }
    if (failure.ok() && out.allowed) {
      for (size_t i = 0; i < requests.size(); ++i) {
        Result<Decision> d =
            DecideLocked(ShardFor(prepared[i].hash), requests[i],
                         Step{prepared[i].policy.id, static_cast<uint32_t>(prepared[i].hash), now, /*apply=*/true,
                              nullptr, shard_ids});
        if (d.ok()) {
          out.decisions[i] = *d;
        } else if (failure.ok()) {
          // Only a full store whose every key sits in shards other threads keep
          // locked gets here (no room for a new key); the earlier limits were charged.
          failure = d.status();
        }
      }
    }
    for (auto it = shard_ids.rbegin(); it != shard_ids.rend(); ++it) shards_[*it].mu.unlock();
    if (!failure.ok()) return failure;
    return out;
  }

  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const uint64_t hash = HashKey(key);
    const size_t shard_index = ShardIndex(hash);
    Shard& shard = shards_[shard_index];
    // A limiter record needs its policy's id, which may not be looked up under
    // a shard lock: get it outside and run `fn` again.
    std::optional<Policy> interned_policy;
    PolicyRef interned;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const int64_t now = Now();
      std::unique_lock<SpinLock> lock(shard.mu);
      int64_t id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
      if (options.fencing_token != 0 && id >= 0) {
        const uint64_t fence = shard.FenceOf(shard.At(static_cast<size_t>(id)));
        if (fence > options.fencing_token) {
          return FailedPreconditionError("fencing token " + std::to_string(options.fencing_token) +
                                         " is older than token " + std::to_string(fence) +
                                         " that already wrote this key");
        }
      }
      std::optional<Record> current;
      if (id >= 0) current = ToRecord(shard, shard.At(static_cast<size_t>(id)));
      Update update = fn(current ? &*current : nullptr);
      switch (update.action) {
        case Update::Action::kKeep:
          return current;
        case Update::Action::kDelete:
          if (id >= 0) Remove(shard, static_cast<size_t>(id), Removal::kDropped);
          return std::optional<Record>();
        case Update::Action::kPut: {
          Record record{std::string(key), std::move(update.value), update.expires_at_ns, options.fencing_token};
          uint16_t policy_id = 0;
          if (const auto* lr = std::get_if<LimiterRecord>(&record.value)) {
            SLUICE_RETURN_IF_ERROR(CheckLimiterRecord(record, *lr, now));
            if (!interned_policy || *interned_policy != lr->policy || interned.generation != policies_.generation()) {
              lock.unlock();
              SLUICE_ASSIGN_OR_RETURN(interned, PolicyId(lr->policy));
              interned_policy = lr->policy;
              continue;
            }
            policy_id = interned.id;
          }
          SLUICE_RETURN_IF_ERROR(PutLocked(shard, record, policy_id, static_cast<uint32_t>(hash), now,
                                           {&shard_index, 1}));
          id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
          if (id < 0) return std::optional<Record>();
          return std::optional<Record>(ToRecord(shard, shard.At(static_cast<size_t>(id))));
        }
      }
      return InternalError("unknown update action");
    }
    return AbortedError("AtomicUpdate: the update kept naming a different policy");
  }

  Result<std::optional<Record>> Get(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const int64_t now = Now();
    const uint64_t hash = HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    const int64_t id = LiveEntry(shard, key, static_cast<uint32_t>(hash), now);
    if (id < 0) {
      ++shard.misses;
      return std::optional<Record>();
    }
    ++shard.hits;
    return std::optional<Record>(ToRecord(shard, shard.At(static_cast<size_t>(id))));
  }

  Status Put(const Record& record) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(record.key));
    const uint64_t hash = HashKey(record.key);
    const size_t shard_index = ShardIndex(hash);
    Shard& shard = shards_[shard_index];
    const auto* lr = std::get_if<LimiterRecord>(&record.value);
    for (;;) {
      const int64_t now = Now();
      PolicyRef policy;
      if (lr != nullptr) {
        SLUICE_RETURN_IF_ERROR(CheckLimiterRecord(record, *lr, now));
        SLUICE_ASSIGN_OR_RETURN(policy, PolicyId(lr->policy));
      }
      std::lock_guard<SpinLock> lock(shard.mu);
      if (lr != nullptr && policy.generation != policies_.generation()) [[unlikely]] continue;
      return PutLocked(shard, record, policy.id, static_cast<uint32_t>(hash), now, {&shard_index, 1});
    }
  }

  Status Delete(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const uint64_t hash = HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard<SpinLock> lock(shard.mu);
    const int64_t id = shard.Find(key, static_cast<uint32_t>(hash));
    if (id >= 0) Remove(shard, static_cast<size_t>(id), Removal::kDropped);
    return Status::Ok();
  }

  Status Scan(std::string_view prefix, const ScanVisitor& visit) override {
    std::vector<Record> batch;
    for (Shard& shard : shards_) {
      batch.clear();
      {
        const int64_t now = Now();
        std::lock_guard<SpinLock> lock(shard.mu);
        for (size_t i = 0; i < shard.size(); ++i) {
          const Entry& e = shard.At(i);
          if (!KeyOf(e).starts_with(prefix)) continue;
          if (Expired(e, now)) continue;
          batch.push_back(ToRecord(shard, e));
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

  // O(shards): every figure is kept per shard as it changes.
  StoreStats Stats() const override {
    StoreStats out;
    for (Shard& shard : shards_) {
      std::lock_guard<SpinLock> lock(shard.mu);
      out.keys += shard.size();
      out.hits += shard.hits;
      out.misses += shard.misses;
      out.decisions += shard.decisions;
      out.evictions += shard.evictions;
      out.evictions_active += shard.evictions_active;
      out.expirations += shard.expirations;
      out.memory_bytes += shard.MemoryBytes();
    }
    return out;
  }

  Status Health() override { return Status::Ok(); }

  size_t SweepExpired() override {
    size_t removed = 0;
    for (Shard& shard : shards_) {
      const int64_t now = Now();
      std::lock_guard<SpinLock> lock(shard.mu);
      for (size_t i = 0; i < shard.size();) {
        if (Expired(shard.At(i), now)) {
          Remove(shard, i, Removal::kExpired);  // the last entry moves to i: look at i again
          ++removed;
        } else {
          ++i;
        }
      }
    }
    return removed;
  }

 private:

  size_t ShardIndex(uint64_t hash) const { return (hash >> 32) & shard_mask_; }
  Shard& ShardFor(uint64_t hash) const { return shards_[ShardIndex(hash)]; }

  // The store's time: the clock, but never earlier than a time the store has
  // already used. A clock that steps back is time standing still.
  int64_t Now() {
    const int64_t t = clock_->NowNanos();
    int64_t latest = latest_ns_.load(std::memory_order_relaxed);
    while (t > latest) {
      if (latest_ns_.compare_exchange_weak(latest, t, std::memory_order_relaxed)) return t;
    }
    return latest;
  }

  // Maps a policy to its id, adding it to the table on first use. The
  // per-thread cache makes the common case (same policy as last time) a
  // comparison of five fields. REQUIRES: no shard lock held.
  Result<PolicyRef> PolicyId(const Policy& policy) {
    PolicyRef ref;
    if (CachedPolicyId(policy, ref)) return ref;
    return InternPolicy(policy);
  }

  // The fast path of PolicyId: true (and `ref` set) if this thread looked up
  // `policy` last and the table has not been reclaimed since.
  bool CachedPolicyId(const Policy& policy, PolicyRef& ref) const {
    const PolicyCache& cache = policy_cache;
    const uint64_t generation = policies_.generation();
    if (cache.store_id == store_id_ && cache.generation == generation && cache.policy == policy) [[likely]] {
      ref = PolicyRef{cache.id, generation};
      return true;
    }
    return false;
  }

  Result<PolicyRef> InternPolicy(const Policy& policy) {
    PolicyCache& cache = policy_cache;
    SLUICE_RETURN_IF_ERROR(policy.Validate());
    SLUICE_ASSIGN_OR_RETURN(const PolicyRef ref, policies_.Intern(policy, [this] { SyncShards(); }));
    cache = {store_id_, ref.generation, policy, ref.id};
    return ref;
  }

  // Takes and releases every shard lock once.
  void SyncShards() {
    for (Shard& shard : shards_) {
      shard.mu.lock();
      shard.mu.unlock();
    }
  }

  // After `e`'s value changed: moves its policy reference from the old value's
  // (if it was a limiter) to the new one's.
  void Repoint(const Entry& e, bool was_limiter, uint16_t old_id) {
    const bool is_limiter = e.kind != kBytesKind;
    if (was_limiter && is_limiter && old_id == e.policy_id) [[likely]] return;
    if (was_limiter) policies_.Unref(old_id);
    if (is_limiter) policies_.Ref(e.policy_id);
  }

  // Removes entry `id` and everything it holds.
  void Remove(Shard& shard, size_t id, Removal why) {
    const Entry& e = shard.At(id);
    if (e.kind != kBytesKind) policies_.Unref(e.policy_id);
    shard.Erase(id);
    if (why == Removal::kExpired) ++shard.expirations;
    if (max_keys_ != 0 && why != Removal::kEvicted) key_count_.fetch_sub(1, std::memory_order_relaxed);
  }

  // The instant a limiter entry's state becomes fresh.
  int64_t FreshAt(const Entry& e) const {
    const Policy& policy = policies_.Get(e.policy_id);
    return ExpiresAt(policy, CopyStateForExpiry(e, policy));
  }

  // True if entry `e` no longer counts at `now`: bytes past their expiry, or
  // a limiter state that is fresh again (as good as absent).
  bool Expired(const Entry& e, int64_t now) const {
    if (e.kind == kBytesKind) return internal::IsExpired(PointerIn<BytesValue>(e)->expires_at_ns, now);
    return internal::IsFreshAt(FreshAt(e), now);
  }

  // When entry `e` stops limiting anyone: its expiry; INT64_MAX for never.
  int64_t EvictionRank(const Entry& e) const {
    if (e.kind == kBytesKind) {
      const int64_t expires = PointerIn<BytesValue>(e)->expires_at_ns;
      return expires == 0 ? INT64_MAX : expires;
    }
    return FreshAt(e);
  }

  static LimiterState CopyStateForExpiry(const Entry& e, const Policy& policy) {
    if (e.kind == kLogKind) {
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
    if (Expired(shard.At(static_cast<size_t>(id)), now)) {
      Remove(shard, static_cast<size_t>(id), Removal::kExpired);
      return -1;
    }
    return id;
  }

  Record ToRecord(const Shard& shard, const Entry& e) const {
    Record r;
    r.key = std::string(KeyOf(e));
    if (e.kind == kBytesKind) {
      const auto* v = PointerIn<BytesValue>(e);
      r.value = v->bytes;
      r.expires_at_ns = v->expires_at_ns;
    } else {
      const Policy& policy = policies_.Get(e.policy_id);
      LimiterRecord lr{policy, CopyState(e, policy)};
      r.expires_at_ns = ExpiresAt(policy, lr.state);
      r.value = std::move(lr);
    }
    r.fencing_token = shard.FenceOf(e);
    return r;
  }

  // --- the key cap ---

  // An eviction candidate: entry `index` of `shard`, which limits nobody from
  // `rank` on (INT64_MAX: never) and already limits nobody if `fresh`.
  struct Candidate {
    Shard* shard = nullptr;
    size_t index = 0;
    int64_t rank = INT64_MAX;
    bool fresh = false;
  };

  // Samples `samples` random entries of `shard` (locked by the caller);
  // returns true if one beats `best`.
  bool Sample(Shard& shard, Shard& rng, int samples, int64_t now, Candidate& best) const {
    bool improved = false;
    for (int i = 0; i < samples && shard.size() > 0; ++i) {
      const size_t index = rng.NextRandom() % shard.size();
      const Entry& e = shard.At(index);
      const bool fresh = Expired(e, now);
      const int64_t rank = EvictionRank(e);
      if (best.shard == nullptr || (fresh && !best.fresh) || (fresh == best.fresh && rank < best.rank)) {
        best = {&shard, index, rank, fresh};
        improved = true;
      }
    }
    return improved;
  }

  // Makes room for one more key when the store holds max_keys: reserves a
  // place in the key count, or evicts a key and gives its place to the new
  // one. Called with `shard` and the shards in `held` locked (ascending).
  // kResourceExhausted only if no key could be evicted after many tries (every
  // key sat in shards other threads kept locked).
  Status MakeRoom(Shard& shard, std::span<const size_t> held, int64_t now) {
    if (max_keys_ == 0) return Status::Ok();
    for (int attempt = 0; attempt < 1000; ++attempt) {
      size_t count = key_count_.load(std::memory_order_relaxed);
      while (count < max_keys_) {
        if (key_count_.compare_exchange_weak(count, count + 1, std::memory_order_relaxed)) return Status::Ok();
      }
      if (EvictOne(shard, held, now)) return Status::Ok();
      std::this_thread::yield();
    }
    return ResourceExhaustedError("memory store: max_keys reached and no key could be evicted");
  }

  // Evicts one key, preferring one whose state is already fresh: first a few
  // samples of `shard`; if none of them is fresh, samples of other shards
  // (locked with try_lock, never waited for, so no lock order is needed).
  // The evicted key's place in the key count is not given back.
  // An eviction of a key that still limited someone is a silent
  // over-admission unless it is reported: counted always, logged at powers of
  // two so that a store kept full does not flood the log.
  void ReportEviction(bool fresh) {
    const MetricLabel labels[] = {{"state", fresh ? "fresh" : "active"}};
    observer_.sink().Increment("sluice_memory_evictions_total", labels);
    if (fresh) return;
    const uint64_t n = active_evictions_.fetch_add(1, std::memory_order_relaxed) + 1;
    if ((n & (n - 1)) == 0) {
      observer_.log().Log(LogLevel::kWarning, "memory",
                          "evicted a key that was still limiting someone (" + std::to_string(n) +
                              " so far): it may be admitted again early; raise MemoryStoreOptions::max_keys");
    }
  }

  bool EvictOne(Shard& shard, std::span<const size_t> held, int64_t now) {
    constexpr int kLocalSamples = 5;
    constexpr int kOtherShards = 8;
    constexpr int kOtherSamples = 4;
    Candidate best;
    Sample(shard, shard, kLocalSamples, now, best);
    Shard* locked = nullptr;  // the other shard holding `best`, locked here
    for (int i = 0; i < kOtherShards && shard_mask_ != 0 && (best.shard == nullptr || !best.fresh); ++i) {
      const size_t index = shard.NextRandom() & shard_mask_;
      Shard& other = shards_[index];
      if (&other == &shard) continue;
      const bool already_held = std::binary_search(held.begin(), held.end(), index);
      if (!already_held && !other.mu.try_lock()) continue;
      if (Sample(other, shard, kOtherSamples, now, best)) {
        if (locked != nullptr && locked != &other) locked->mu.unlock();
        locked = already_held ? nullptr : &other;
      } else if (!already_held && locked != &other) {
        other.mu.unlock();
      }
    }
    const bool found = best.shard != nullptr;
    if (found) {
      Shard& victim = *best.shard;
      ++victim.evictions;
      if (!best.fresh) ++victim.evictions_active;
      Remove(victim, best.index, Removal::kEvicted);
      ReportEviction(best.fresh);
    }
    if (locked != nullptr) locked->mu.unlock();
    return found;
  }

  // --- decisions and writes ---

  // What a decision under the shard lock needs besides the request.
  struct Step {
    uint16_t policy_id;             // the request's policy, current under the lock
    uint32_t hash;                  // of the request's key
    int64_t now;
    bool apply;                     // false: the first pass of DecideAll, nothing is written
    bool* denied;                   // if set, receives whether the limit denies
    std::span<const size_t> held;   // the shards the caller has locked, ascending
  };

  Result<Decision> DecideLocked(Shard& shard, const DecideRequest& request, const Step& step) {
    SLUICE_RETURN_IF_ERROR(internal::CheckCost(*request.policy, request.op, request.cost));
    // Algorithm values are the LimiterState alternatives' indexes + 1.
    using Typed = Result<Decision> (MemoryStoreImpl::*)(Shard&, const DecideRequest&, const Step&);
    static constexpr auto kTyped = []<size_t... I>(std::index_sequence<I...>) {
      return std::array<Typed, sizeof...(I)>{&MemoryStoreImpl::DecideTyped<std::variant_alternative_t<I, LimiterState>>...};
    }(std::make_index_sequence<std::variant_size_v<LimiterState>>{});
    const size_t index = static_cast<size_t>(request.policy->algorithm) - 1;
    if (index >= kTyped.size()) [[unlikely]] return InternalError("unknown algorithm");
    // The result is built in place: copying a Decision between temporaries
    // costs more than all of a hot-key decision's bookkeeping.
    return (this->*kTyped[index])(shard, request, step);
  }

  // One decision on the concrete state type, under the shard's lock. The
  // policy was validated when it got its id; the cost has been checked.
  // Without `apply` (the first pass of DecideAll) nothing is written.
  // kResourceExhausted (nothing written) if a new key found no room.
  template <typename S>
  Result<Decision> DecideTyped(Shard& shard, const DecideRequest& request, const Step& step) {
    const Policy& policy = *request.policy;
    const auto& [policy_id, hash, now, apply, denied, held] = step;
    const int64_t found = shard.Find(request.key, hash);
    Entry* entry = found >= 0 ? &shard.At(static_cast<size_t>(found)) : nullptr;
    const bool have = entry != nullptr && entry->kind == StateSlot<S>::kKind;
    if (entry != nullptr) {
      ++shard.hits;
    } else {
      ++shard.misses;
    }
    // Heap bytes of the value before Take() may move it out.
    const size_t value_bytes = entry != nullptr && HasHeapValue(entry->kind) ? ValueHeapBytes(*entry) : 0;
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
    const bool fresh_after = internal::IsFreshAt(ev.expires_at_ns, now);
    if (entry != nullptr) {
      if (fresh_after) {
        if (HasHeapValue(entry->kind)) shard.heap_bytes += ValueHeapBytes(*entry) - value_bytes;
        Remove(shard, static_cast<size_t>(found), Removal::kDropped);
      } else {
        const bool was_limiter = entry->kind != kBytesKind;
        const uint16_t old_id = entry->policy_id;
        PutState(*entry, std::move(state));
        entry->policy_id = policy_id;
        if (value_bytes != 0 || HasHeapValue(entry->kind)) shard.heap_bytes += ValueHeapBytes(*entry) - value_bytes;
        Repoint(*entry, was_limiter, old_id);
      }
    } else if (!fresh_after && ev.changed) {
      SLUICE_RETURN_IF_ERROR(MakeRoom(shard, held, now));
      Entry& e = shard.At(shard.Insert(request.key, hash));
      PutState(e, std::move(state));
      e.policy_id = policy_id;
      shard.heap_bytes += ValueHeapBytes(e);
      policies_.Ref(policy_id);
    }
    return ev.decision;
  }

  // A limiter record is checked against its policy before it is stored.
  static Status CheckLimiterRecord(const Record& record, const LimiterRecord& lr, int64_t now) {
    return ValidateState(lr.policy, lr.state, now).WithContext("record \"" + record.key + "\"");
  }

  // Stores `record` (a limiter record checked, its policy's id `policy_id`
  // current) and raises the key's fence to the record's token.
  Status PutLocked(Shard& shard, const Record& record, uint16_t policy_id, uint32_t hash, int64_t now,
                   std::span<const size_t> held) {
    // An expired entry is gone, fence and all, before the new value arrives.
    int64_t id = LiveEntry(shard, record.key, hash, now);
    const auto* lr = std::get_if<LimiterRecord>(&record.value);
    if (lr != nullptr ? internal::IsFreshAt(ExpiresAt(lr->policy, lr->state), now)
                      : internal::IsExpired(record.expires_at_ns, now)) {
      if (id >= 0) Remove(shard, static_cast<size_t>(id), Removal::kDropped);
      return Status::Ok();
    }
    if (id < 0) {
      SLUICE_RETURN_IF_ERROR(MakeRoom(shard, held, now));
      id = static_cast<int64_t>(shard.Insert(record.key, hash));
    }
    Entry& e = shard.At(static_cast<size_t>(id));
    const bool was_limiter = e.kind != kBytesKind;
    const uint16_t old_id = e.policy_id;
    const size_t value_bytes = ValueHeapBytes(e);
    if (lr != nullptr) {
      LimiterState copy = lr->state;
      StoreState(e, std::move(copy));
      e.policy_id = policy_id;
    } else if (e.kind == kBytesKind && PointerIn<BytesValue>(e) != nullptr) {
      auto* v = PointerIn<BytesValue>(e);
      v->bytes = std::get<std::string>(record.value);
      v->expires_at_ns = record.expires_at_ns;
    } else {
      ReleaseValue(e);
      SetPointer(e, new BytesValue{record.expires_at_ns, std::get<std::string>(record.value)});
      SetKind(e, kBytesKind);
      e.policy_id = 0;
    }
    shard.heap_bytes += ValueHeapBytes(e) - value_bytes;
    Repoint(e, was_limiter, old_id);
    shard.RaiseFence(e, record.fencing_token);
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
  const Observer observer_;
  std::atomic<uint64_t> active_evictions_{0};
  const uint64_t store_id_;
  const size_t shard_mask_;
  mutable std::vector<Shard> shards_;
  // The key cap (0 = none).
  const size_t max_keys_;
  // Written by every decision (as time moves) and every insert under a cap:
  // each on its own cache line, away from the fields every call reads.
  // The latest time the store has used (see Now()).
  alignas(64) std::atomic<int64_t> latest_ns_{INT64_MIN};
  // With a key cap, the keys held or reserved.
  alignas(64) std::atomic<size_t> key_count_{0};

  alignas(64) PolicyTable policies_;

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
