// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Executor runs store calls for ResilientStore: a fixed set of worker threads
// fed by a bounded queue, and one timer thread that runs functions when the
// injected clock's monotonic time reaches their due time (deadlines, retry
// backoff).
//
// Bounds: Submit() refuses work when every worker is busy and `max_queued`
// tasks already wait, so a hung dependency fills the workers and then makes
// callers fail at once instead of piling up work.
//
// Time: with Clock::Real() the timer thread sleeps exactly until the next due
// time; with any other clock (a SimulatedClock, a CachedClock) it re-reads the
// clock at least every millisecond of real time, so a test that advances a
// simulated clock sees due timers run promptly. It never calls
// Clock::SleepFor().
//
// Shutdown: Stop() refuses new work and timers, drops queued tasks, runs every
// pending timer function at once (so each waiting call is answered), then
// waits up to `grace` of real time for workers to finish their current task.
// Workers still inside a task after that (a store call that hangs) are
// detached: everything they touch is kept alive by the shared pointers their
// task holds, and they exit when the task returns.
//
// Internal: no API promise. Thread-safe.

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/clock.h"

namespace sluice::resilience {

class Executor {
 public:
  // REQUIRES: workers >= 1. `clock` must outlive every thread of the executor
  // (including detached ones: pass a clock that lives as long as the process
  // or the test).
  Executor(Clock& clock, int workers, size_t max_queued,
           std::chrono::nanoseconds grace = std::chrono::milliseconds(200));
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs `work` on a worker. Returns an id for Cancel(), or 0 (and `work` is
  // dropped) when the workers are busy and the queue is full, or after Stop().
  uint64_t Submit(std::function<void()> work);

  // Drops a task that no worker has started yet, freeing its queue slot.
  // Returns whether it was dropped (false: it started, ran or was dropped).
  bool Cancel(uint64_t task);

  struct TimerId {
    int64_t at = 0;
    uint64_t seq = 0;
  };

  // Runs `fn` on the timer thread once MonotonicNow() >= at. Returns false
  // (and drops `fn`) after Stop().
  bool AddTimer(Clock::Monotonic at, std::function<void()> fn, TimerId* id = nullptr);

  // Removes a timer that has not run yet. No effect if it ran or is running.
  void CancelTimer(const TimerId& id);

  void Stop();

  size_t busy_workers() const;
  size_t queued() const;
  size_t pending_timers() const;

 private:
  struct State {
    explicit State(Clock& c) : clock(c) {}
    Clock& clock;
    mutable std::mutex mu;
    std::condition_variable work_cv;
    std::condition_variable timer_cv;
    std::condition_variable exit_cv;
    bool stopping = false;
    std::deque<std::pair<uint64_t, std::function<void()>>> queue;  // (id, task)
    uint64_t next_task = 1;
    std::map<std::pair<int64_t, uint64_t>, std::function<void()>> timers;
    uint64_t next_seq = 0;
    // While the timer thread waits: the monotonic time (ns) it will wake at
    // by itself, INT64_MAX if only a notify wakes it; 0 while it is awake.
    // AddTimer() notifies only for a timer due before that.
    int64_t sleeping_until = 0;
    size_t busy = 0;
    size_t running_threads = 0;
  };

  static void WorkerLoop(std::shared_ptr<State> state);
  static void TimerLoop(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  const int workers_;
  const size_t max_queued_;
  const std::chrono::nanoseconds grace_;
  std::vector<std::thread> threads_;
  std::thread timer_thread_;
  std::once_flag stop_once_;
};

}  // namespace sluice::resilience
