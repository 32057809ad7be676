// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Key-striped locks: a fixed array of mutexes, each key hashed to one of them.
// A store that keeps per-key state outside a concurrent map (on disk, in a
// remote table) serialises the read-modify-write of one key by locking its
// stripe, at a memory cost independent of the number of keys. Two keys may
// share a stripe; that only costs concurrency, never correctness.
//
// Several keys (an all-or-nothing decision over several limits) are locked with
// LockAll(), which takes their distinct stripes in ascending index order, so two
// callers locking overlapping key sets can never wait on each other in a cycle.
// Never hold a stripe from Lock() while calling LockAll() (or the reverse).
//
// Internal: no API promise. Thread-safe.
//
// Example:
//   StripedLocks locks(256);
//   {
//     std::unique_lock<std::mutex> l = locks.Lock(key);
//     ... read, decide, write key ...
//   }
//   std::string_view keys[] = {"a", "b"};
//   StripedLocks::MultiLock all = locks.LockAll(keys);

#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::internal {

class StripedLocks {
 public:
  // Holds the stripes of several keys; releases them (in reverse order) when
  // destroyed. Movable.
  class MultiLock {
   public:
    MultiLock() = default;
    MultiLock(MultiLock&& other) noexcept : owner_(other.owner_), stripes_(std::move(other.stripes_)) {
      other.owner_ = nullptr;
      other.stripes_.clear();
    }
    MultiLock& operator=(MultiLock&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = other.owner_;
        stripes_ = std::move(other.stripes_);
        other.owner_ = nullptr;
        other.stripes_.clear();
      }
      return *this;
    }
    MultiLock(const MultiLock&) = delete;
    MultiLock& operator=(const MultiLock&) = delete;
    ~MultiLock() { Release(); }

    // The stripe indices held, ascending and distinct.
    const std::vector<size_t>& stripes() const { return stripes_; }

   private:
    friend class StripedLocks;
    MultiLock(StripedLocks* owner, std::vector<size_t> stripes)
        : owner_(owner), stripes_(std::move(stripes)) {}
    void Release() {
      if (owner_ == nullptr) return;
      for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) owner_->stripes_[*it].mu.unlock();
      owner_ = nullptr;
      stripes_.clear();
    }
    StripedLocks* owner_ = nullptr;
    std::vector<size_t> stripes_;
  };

  // `stripes` is rounded up to a power of two (at least 1).
  explicit StripedLocks(size_t stripes = 256)
      : mask_(std::bit_ceil(std::max<size_t>(stripes, 1)) - 1), stripes_(new Stripe[mask_ + 1]) {}

  size_t size() const { return mask_ + 1; }

  // The stripe `key` maps to; the same for the life of this object.
  size_t StripeOf(std::string_view key) const { return Hash(key) & mask_; }

  // Locks `key`'s stripe.
  std::unique_lock<std::mutex> Lock(std::string_view key) {
    return std::unique_lock<std::mutex>(stripes_[StripeOf(key)].mu);
  }

  // Locks stripe `stripe` (a value StripeOf returned), for a caller that also
  // indexes per-stripe data by it.
  std::unique_lock<std::mutex> LockStripe(size_t stripe) {
    return std::unique_lock<std::mutex>(stripes_[stripe & mask_].mu);
  }

  // Locks the stripes of all `keys` in ascending stripe order (each stripe once,
  // however many keys share it).
  MultiLock LockAll(std::span<const std::string_view> keys) {
    std::vector<size_t> ids;
    ids.reserve(keys.size());
    for (std::string_view k : keys) ids.push_back(StripeOf(k));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (size_t id : ids) stripes_[id].mu.lock();
    return MultiLock(this, std::move(ids));
  }

  // Locks every stripe, in ascending order (a pause for all keys, e.g. to
  // collect a consistent set of per-stripe data).
  MultiLock LockEveryStripe() {
    std::vector<size_t> ids(size());
    for (size_t i = 0; i < ids.size(); ++i) {
      ids[i] = i;
      stripes_[i].mu.lock();
    }
    return MultiLock(this, std::move(ids));
  }

  // FNV-1a over the key, then a 64-bit finaliser (splitmix64), so stripes
  // are chosen by well-mixed low bits even for keys differing in one byte.
  static uint64_t Hash(std::string_view key) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
  }

 private:
  // One mutex per cache line, so neighbouring stripes do not share one.
  struct alignas(64) Stripe {
    std::mutex mu;
  };

  const size_t mask_;
  std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace sluice::internal
