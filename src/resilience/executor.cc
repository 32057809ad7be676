// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "resilience/executor.h"

#include <algorithm>
#include <limits>

namespace sluice::resilience {

Executor::Executor(Clock& clock, int workers, size_t max_queued, std::chrono::nanoseconds grace)
    : state_(std::make_shared<State>(clock)), workers_(workers), max_queued_(max_queued), grace_(grace) {
  state_->running_threads = static_cast<size_t>(workers);
  threads_.reserve(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) threads_.emplace_back(&Executor::WorkerLoop, state_);
  timer_thread_ = std::thread(&Executor::TimerLoop, state_);
}

Executor::~Executor() { Stop(); }

uint64_t Executor::Submit(std::function<void()> work) {
  uint64_t id = 0;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return 0;
    // Running plus waiting tasks stay within workers + max_queued.
    if (state_->busy + state_->queue.size() >= static_cast<size_t>(workers_) + max_queued_) return 0;
    id = state_->next_task++;
    state_->queue.emplace_back(id, std::move(work));
  }
  state_->work_cv.notify_one();
  return id;
}

bool Executor::Cancel(uint64_t task) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(state_->mu);
  // Ids grow along the queue: search from the back, where recent tasks are.
  for (auto it = state_->queue.rbegin(); it != state_->queue.rend(); ++it) {
    if (it->first == task) {
      dropped = std::move(it->second);
      state_->queue.erase(std::next(it).base());
      return true;
    }
    if (it->first < task) break;
  }
  return false;
}

bool Executor::AddTimer(Clock::Monotonic at, std::function<void()> fn, TimerId* id) {
  bool wake = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return false;
    const TimerId tid{at.time_since_epoch().count(), state_->next_seq++};
    state_->timers.emplace(std::make_pair(tid.at, tid.seq), std::move(fn));
    // Most timers are deadlines later than the one the thread already waits
    // for: those need no wake-up (one per call would cost a context switch).
    wake = tid.at < state_->sleeping_until;
    if (id != nullptr) *id = tid;
  }
  if (wake) state_->timer_cv.notify_one();
  return true;
}

void Executor::CancelTimer(const TimerId& id) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(state_->mu);
  auto it = state_->timers.find({id.at, id.seq});
  if (it == state_->timers.end()) return;
  dropped = std::move(it->second);
  state_->timers.erase(it);
}

void Executor::WorkerLoop(std::shared_ptr<State> state) {
  std::unique_lock lock(state->mu);
  for (;;) {
    state->work_cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
    if (state->stopping) break;
    std::function<void()> work = std::move(state->queue.front().second);
    state->queue.pop_front();
    ++state->busy;
    lock.unlock();
    work();
    work = nullptr;  // release what the task held before taking the lock
    lock.lock();
    --state->busy;
  }
  --state->running_threads;
  state->exit_cv.notify_all();
}

void Executor::TimerLoop(std::shared_ptr<State> state) {
  constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
  const bool real = &state->clock == &Clock::Real();
  int64_t last_until = 0;  // real clock: the time it last slept to
  std::unique_lock lock(state->mu);
  while (!state->stopping) {
    const int64_t now = state->clock.MonotonicNow().time_since_epoch().count();
    if (!state->timers.empty() && state->timers.begin()->first.first <= now) {
      const auto first = state->timers.begin();
      std::function<void()> fn = std::move(first->second);
      state->timers.erase(first);
      lock.unlock();
      fn();
      fn = nullptr;
      lock.lock();
      continue;
    }
    if (real) {
      // With no timer left (they were cancelled), still sleep to the time
      // already chosen, so that new later timers need not wake the thread.
      int64_t until = state->timers.empty() ? (last_until > now ? last_until : kForever)
                                            : state->timers.begin()->first.first;
      last_until = until;
      state->sleeping_until = until;
      if (until == kForever) {
        state->timer_cv.wait(lock);
      } else {
        state->timer_cv.wait_until(lock, Clock::Monotonic(std::chrono::nanoseconds(until)));
      }
    } else if (state->timers.empty()) {
      state->sleeping_until = kForever;
      state->timer_cv.wait(lock);
    } else {
      // Another clock cannot be waited on: re-read it every millisecond.
      const int64_t first = state->timers.begin()->first.first;
      state->sleeping_until = first;
      state->timer_cv.wait_for(lock, std::min<std::chrono::nanoseconds>(std::chrono::nanoseconds(first - now),
                                                                        std::chrono::milliseconds(1)));
    }
    state->sleeping_until = 0;
  }
}

void Executor::Stop() {
  std::call_once(stop_once_, [this] {
    std::deque<std::pair<uint64_t, std::function<void()>>> dropped;
    std::map<std::pair<int64_t, uint64_t>, std::function<void()>> timers;
    {
      std::lock_guard lock(state_->mu);
      state_->stopping = true;
      dropped.swap(state_->queue);
      timers.swap(state_->timers);
    }
    state_->work_cv.notify_all();
    state_->timer_cv.notify_all();
    if (timer_thread_.joinable()) timer_thread_.join();
    for (auto& [when, fn] : timers) fn();
    timers.clear();
    dropped.clear();
    {
      std::unique_lock lock(state_->mu);
      state_->exit_cv.wait_for(lock, grace_, [&] { return state_->running_threads == 0; });
    }
    for (std::thread& t : threads_) t.detach();
  });
}

size_t Executor::busy_workers() const {
  std::lock_guard lock(state_->mu);
  return state_->busy;
}

size_t Executor::queued() const {
  std::lock_guard lock(state_->mu);
  return state_->queue.size();
}

size_t Executor::pending_timers() const {
  std::lock_guard lock(state_->mu);
  return state_->timers.size();
}

}  // namespace sluice::resilience
