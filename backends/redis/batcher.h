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
// Thread-safe. `run` is called on caller threads, at most `max_in_flight` at
// a time, and must fill in every item it is given.

#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
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

  // Returns once `item` was run, by this thread or by another's batch.
  void Submit(Item* item) {
    Waiter self(item);
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(&self);
    self.cv.wait(lock, [&] { return self.done || (queue_.front() == &self && in_flight_ < max_in_flight_); });
    if (self.done) return;
    std::vector<Waiter*> batch;
    std::vector<Item*> items;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      items.push_back(queue_.front()->item);
      queue_.pop_front();
    }
    ++in_flight_;
    // The next in line may start a batch of its own alongside this one.
    if (!queue_.empty() && in_flight_ < max_in_flight_) queue_.front()->cv.notify_one();
    lock.unlock();
    run_(std::span<Item* const>(items));
    lock.lock();
    --in_flight_;
    for (Waiter* w : batch) {
      // Notified under the lock: a waiter cannot see `done` and return (which
      // destroys its condition variable) before notify_one finished.
      w->done = true;
      if (w != &self) w->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }

 private:
  struct Waiter {
    explicit Waiter(Item* i) : item(i) {}
    Item* item;
    bool done = false;
    std::condition_variable cv;
  };

  const size_t max_in_flight_;
  const size_t max_batch_;
  const Run run_;
  std::mutex mu_;
  std::deque<Waiter*> queue_;  // guarded by mu_
  size_t in_flight_ = 0;       // guarded by mu_
};

}  // namespace sluice::redis
