// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The memory store's policy table: policies to 16-bit ids, and the ids of
// policies no entry uses any more reused.
// Internal: no API promise. Thread-safe; see PolicyTable for the protocol its
// callers follow.

#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/algorithms.h"
#include "sluice/result.h"

namespace sluice::internal::memory {

// A policy's id, valid while the store's policy generation is `generation`.
struct PolicyRef {
  uint16_t id = 0;
  uint64_t generation = 0;
};

// Maps policies to 16-bit ids (entries store the id) and reuses the ids of
// policies no entry uses any more.
//
// Every limiter entry holds one reference to its policy's id. An id whose
// count is zero may be reclaimed, but a caller may have looked the id up (or
// cached it per thread) and not yet stored it. So ids are handed out with the
// table's generation, and a caller stores an id only under a shard lock after
// checking that the generation is unchanged. Reclaim() unmaps the unused ids,
// bumps the generation, then takes and releases every shard lock once: every
// critical section that saw the old generation has then finished and its
// references are counted; ids still unused are freed.
class PolicyTable {
 public:
  static constexpr size_t kMaxPolicies = 0xffff;
  static constexpr size_t kChunk = 1024;

  PolicyTable() = default;
  PolicyTable(const PolicyTable&) = delete;
  PolicyTable& operator=(const PolicyTable&) = delete;
  ~PolicyTable() {
    for (auto& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
  }

  uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }

  // The policy of an id some entry holds (so it is neither free nor changing).
  const Policy& Get(uint16_t id) const { return SlotOf(id).policy; }

  void Ref(uint16_t id) { SlotOf(id).refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref(uint16_t id) { SlotOf(id).refs.fetch_sub(1, std::memory_order_relaxed); }

  // Looks up or adds `policy` (already validated). kResourceExhausted when the
  // table is full even after reclaiming; `sync_shards` takes and releases
  // every shard lock once. REQUIRES: the caller holds no shard lock.
  Result<PolicyRef> Intern(const Policy& policy, const std::function<void()>& sync_shards) {
    const uint64_t fingerprint = policy.Fingerprint();
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      if (auto found = Lookup(policy, fingerprint)) return *found;
    }
    for (int attempt = 0;; ++attempt) {
      {
        std::unique_lock<std::shared_mutex> lock(mu_);
        if (auto found = Lookup(policy, fingerprint)) return *found;
        if (!free_.empty() || size_ < kMaxPolicies) {
          uint16_t id;
          if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
          } else {
            id = static_cast<uint16_t>(size_++);
            if (id % kChunk == 0) chunks_[id / kChunk].store(new Slot[kChunk], std::memory_order_release);
          }
          Slot& slot = SlotOf(id);
          slot.policy = policy;
          slot.mapped = true;
          slot.free = false;
          auto [it, inserted] = ids_.try_emplace(fingerprint, id);
          if (!inserted) {  // a fingerprint collision: the newer policy takes the map entry
            SlotOf(it->second).mapped = false;
            it->second = id;
          }
          return PolicyRef{id, generation()};
        }
      }
      if (attempt > 0 || Reclaim(sync_shards) == 0) {
        return ResourceExhaustedError("memory store: more than " + std::to_string(kMaxPolicies) +
                                      " distinct policies in use at once");
      }
    }
  }

 private:
  struct Slot {
    Policy policy;
    std::atomic<uint32_t> refs{0};
    bool mapped = false;  // ids_ maps the policy's fingerprint to this id; guarded by mu_
    bool free = false;    // in free_; guarded by mu_
  };

  Slot& SlotOf(uint16_t id) const { return chunks_[id / kChunk].load(std::memory_order_acquire)[id % kChunk]; }

  // REQUIRES: mu_ held (shared or exclusive).
  std::optional<PolicyRef> Lookup(const Policy& policy, uint64_t fingerprint) const {
    auto it = ids_.find(fingerprint);
    if (it != ids_.end() && SlotOf(it->second).policy == policy) return PolicyRef{it->second, generation()};
    return std::nullopt;
  }

  // Frees the ids no entry uses; returns how many are free afterwards.
  size_t Reclaim(const std::function<void()>& sync_shards) {
    std::lock_guard<std::mutex> reclaiming(reclaim_mu_);
    std::vector<uint16_t> unused;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      if (!free_.empty()) return free_.size();  // another caller just reclaimed
      for (size_t i = 0; i < size_; ++i) {
        Slot& slot = SlotOf(static_cast<uint16_t>(i));
        if (slot.free || slot.refs.load(std::memory_order_relaxed) != 0) continue;
        unused.push_back(static_cast<uint16_t>(i));
        if (slot.mapped) {
          ids_.erase(slot.policy.Fingerprint());
          slot.mapped = false;
        }
      }
      generation_.fetch_add(1, std::memory_order_relaxed);
    }
    // Lookups can no longer return the unused ids, and ids handed out before
    // are refused under the shard locks from now on: wait for the critical
    // sections that may still have stored one.
    sync_shards();
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (uint16_t id : unused) {
      Slot& slot = SlotOf(id);
      if (slot.refs.load(std::memory_order_relaxed) == 0) {
        slot.free = true;
        slot.policy = Policy{};
        free_.push_back(id);
      } else if (ids_.try_emplace(slot.policy.Fingerprint(), id).second) {
        slot.mapped = true;  // stored just before the generation changed: still in use
      }
    }
    return free_.size();
  }

  mutable std::shared_mutex mu_;
  std::mutex reclaim_mu_;  // one Reclaim at a time
  std::atomic<uint64_t> generation_{0};
  // Slots in chunks that never move, so Get() needs no lock.
  std::array<std::atomic<Slot*>, (kMaxPolicies + kChunk) / kChunk> chunks_{};
  size_t size_ = 0;                              // ids ever used; guarded by mu_
  std::vector<uint16_t> free_;                   // guarded by mu_
  std::unordered_map<uint64_t, uint16_t> ids_;  // fingerprint -> id; guarded by mu_
};

}  // namespace sluice::internal::memory
