// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Batcher: automatic batching of concurrent blocking calls, as LevelDB groups
// concurrent writes. Callers queue their item (or a group of items, which
// stays together); the caller at the front of the queue, when fewer than
// `max_in_flight` batches are running, takes queued groups up to `max_batch`
// items and runs them as one batch on its own thread while the others wait. A
// lone caller therefore runs at once (no added latency), and under load many
// callers share one round trip.
//
// Waiting is bounded: a caller gives up when its deadline passes while it is
// still queued (its items were never run), and is turned away at once when
// its items would take the queue past `max_queued` items (a group larger than
// that is taken only when nothing else waits).
//
// Thread-safe. `run` is called on caller threads, at most `max_in_flight` at
// a time, with at most `max_batch` items (a group larger than that is run
// alone, in pieces of `max_batch`), and must fill in every item it is given.

#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace sluice::redis {

template <class Item>
class Batcher {
 public:
  using Run = std::function<void(std::span<Item* const>)>;

  Batcher(size_t max_in_flight, size_t max_batch, Run run)
      : max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight),
        max_batch_(max_batch < 1 ? 1 : max_batch),
        run_(std::move(run)) {}

  enum class Outcome { kRun, kTimedOut, kQueueFull };

  // Returns kRun once `item` was run, by this thread or by another's batch;
  // kTimedOut when `deadline` (if any) passed while the item was still
  // queued; kQueueFull at once when `max_queued` (0: no bound) items were
  // already queued. The item was not run in the last two cases.
  Outcome Submit(Item* item, std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
                 size_t max_queued = 0) {
    return Submit(std::span<Item* const>(&item, 1), deadline, max_queued);
  }

  // The same for a group of items, which run in one batch (or, beyond
  // `max_batch`, in consecutive pieces on this caller's or one leader's
  // thread): all of them, or none.
  Outcome Submit(std::span<Item* const> items,
                 std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
                 size_t max_queued = 0) {
    if (items.empty()) return Outcome::kRun;
    Waiter self(items);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (max_queued > 0 && queued_items_ > 0 && queued_items_ + items.size() > max_queued) {
        return Outcome::kQueueFull;
      }
      queue_.push_back(&self);
      queued_items_ += items.size();
      AssignLeaderLocked();
    }
    {
      // Each waiter sleeps on its own lock, so finishing a batch wakes its
      // members without making them queue up on a shared mutex.
      std::unique_lock<std::mutex> lock(self.mu);
      auto woken = [&] { return self.done || self.lead; };
      if (!deadline) {
        self.cv.wait(lock, woken);
      } else if (!self.cv.wait_until(lock, *deadline, woken)) {
        // Still queued unless a leader took the item meanwhile: check under
        // the queue's lock (lock order: mu_, then the waiter's).
        lock.unlock();
        {
          std::lock_guard<std::mutex> queue_lock(mu_);
          std::lock_guard<std::mutex> self_lock(self.mu);
          if (!self.done && !self.lead) {
            for (auto it = queue_.begin(); it != queue_.end(); ++it) {
              if (*it == &self) {
                queue_.erase(it);
                queued_items_ -= items.size();
                return Outcome::kTimedOut;
              }
            }
          }
        }
        lock.lock();
      }
      // Taken into another's batch: that batch is bounded by its items'
      // deadlines, this one's included.
      self.cv.wait(lock, woken);
      if (self.done) return Outcome::kRun;
    }
    std::vector<Waiter*> batch;
    std::vector<Item*> run;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leader_pending_ = false;
      // Whole groups only; the first is taken whatever its size.
      while (!queue_.empty() && (run.empty() || run.size() + queue_.front()->items.size() <= max_batch_)) {
        Waiter* w = queue_.front();
        queue_.pop_front();
        queued_items_ -= w->items.size();
        batch.push_back(w);
        run.insert(run.end(), w->items.begin(), w->items.end());
      }
      ++in_flight_;
      // The next in line may start a batch of its own alongside this one.
      AssignLeaderLocked();
    }
    for (size_t at = 0; at < run.size(); at += max_batch_) {
      run_(std::span<Item* const>(run).subspan(at, std::min(max_batch_, run.size() - at)));
    }
    for (Waiter* w : batch) {
      if (w == &self) continue;
      // Notified under the waiter's lock: it cannot see `done` and return
      // (destroying its condition variable) before notify_one finished.
      std::lock_guard<std::mutex> lock(w->mu);
      w->done = true;
      w->cv.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    AssignLeaderLocked();
    return Outcome::kRun;
  }

  // Items waiting to be taken into a batch.
  size_t queued_items() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queued_items_;
  }

 private:
  struct Waiter {
    explicit Waiter(std::span<Item* const> i) : items(i) {}
    std::span<Item* const> items;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // guarded by mu
    bool lead = false;  // guarded by mu
  };

  // Makes the front of the queue a leader if a batch may start now and no
  // leader is already on its way. Lock order: mu_, then a waiter's mu.
  void AssignLeaderLocked() {
    if (queue_.empty() || leader_pending_ || in_flight_ >= max_in_flight_) return;
    leader_pending_ = true;
    Waiter* w = queue_.front();
    std::lock_guard<std::mutex> lock(w->mu);
    w->lead = true;
    w->cv.notify_one();
  }

  const size_t max_in_flight_;
  const size_t max_batch_;
  const Run run_;
  mutable std::mutex mu_;
  std::deque<Waiter*> queue_;    // guarded by mu_
  size_t queued_items_ = 0;      // guarded by mu_: the items of the waiters in queue_
  size_t in_flight_ = 0;         // guarded by mu_
  bool leader_pending_ = false;  // guarded by mu_: a leader was chosen but has not taken its batch
};

}  // namespace sluice::redis
