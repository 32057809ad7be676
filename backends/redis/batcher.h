// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Batcher: automatic batching of concurrent blocking calls, as LevelDB groups
// concurrent writes. Callers queue their item; the caller at the front of the
// queue, when fewer than `max_in_flight` batches are running, takes up to
// `max_batch` queued items and runs them as one batch on its own thread while
// the others wait. A lone caller therefore runs at once in a batch of one (no
// added latency), and under load many callers share one round trip.
//
// Waiting is bounded: a caller gives up when its deadline passes while it is
// still queued (its item was never run), and is turned away at once when
// `max_queued` callers are already queued.
//
// Thread-safe. `run` is called on caller threads, at most `max_in_flight` at
// a time, and must fill in every item it is given.

#pragma once

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
    Waiter self(item);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (max_queued > 0 && queue_.size() >= max_queued) return Outcome::kQueueFull;
      queue_.push_back(&self);
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
    std::vector<Item*> items;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leader_pending_ = false;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(queue_.front());
        items.push_back(queue_.front()->item);
        queue_.pop_front();
      }
      ++in_flight_;
      // The next in line may start a batch of its own alongside this one.
      AssignLeaderLocked();
    }
    run_(std::span<Item* const>(items));
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

 private:
  struct Waiter {
    explicit Waiter(Item* i) : item(i) {}
    Item* item;
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
  std::mutex mu_;
  std::deque<Waiter*> queue_;    // guarded by mu_
  size_t in_flight_ = 0;         // guarded by mu_
  bool leader_pending_ = false;  // guarded by mu_: a leader was chosen but has not taken its batch
};

}  // namespace sluice::redis
