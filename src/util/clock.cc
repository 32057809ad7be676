// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The only place in sluice that reads std::chrono clocks. Everything else asks
// an injected Clock.

#include "sluice/clock.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>

namespace sluice {
namespace {

class RealClock final : public Clock {
 public:
  Monotonic MonotonicNow() override { return std::chrono::steady_clock::now(); }
  Wall WallNow() override { return std::chrono::system_clock::now(); }

  void SleepFor(std::chrono::nanoseconds d) override {
    // sleep_for already returns at once for d <= 0; the check saves a syscall.
    if (d > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(d);
  }

  int64_t NowNanos() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// The finest resolution CachedClock honours. Anything smaller would keep the
// background thread busy for no benefit: a plain Clock::Real() read is cheaper.
constexpr std::chrono::nanoseconds kMinCachedResolution = std::chrono::microseconds(1);

}  // namespace

int64_t Clock::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(WallNow().time_since_epoch()).count();
}

Clock& Clock::Real() {
  // RealClock holds no state, so its destruction at exit is harmless even for
  // a static CachedClock that outlives it in theory: static objects that call
  // Real() in their constructor are destroyed before it.
  static RealClock clock;
  return clock;
}

struct CachedClock::Impl {
  Impl(std::chrono::nanoseconds res, Clock& src)
      : source(src), resolution(std::max(res, kMinCachedResolution)) {}

  // Reads the source and publishes it. Only the constructor (before the thread
  // starts) and the background thread call this, so there is a single writer
  // and load-compare-store needs no CAS.
  //
  // Monotonic time is read before wall time and published after it with release
  // order: a reader that acquires a monotonic value then sees a wall value at
  // least as new as the source's wall time at that monotonic instant.
  void Refresh() {
    const int64_t mono = source.MonotonicNow().time_since_epoch().count();
    const int64_t wall = source.NowNanos();
    // Wall time may step backwards (NTP, a simulated clock's SetWall); limiter
    // state must never see that, so hold the previous value until it is passed.
    if (wall > wall_ns.load(std::memory_order_relaxed)) wall_ns.store(wall, std::memory_order_relaxed);
    if (mono > mono_ticks.load(std::memory_order_relaxed)) mono_ticks.store(mono, std::memory_order_release);
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) {
      // wait_for uses the steady clock, so a wall-clock step cannot stall us.
      if (cv.wait_for(lock, resolution, [this] { return stop; })) break;
      lock.unlock();
      Refresh();
      lock.lock();
    }
  }

  Clock& source;
  const std::chrono::nanoseconds resolution;

  // Readers touch only these two; keep them off the line of the mutex.
  alignas(64) std::atomic<int64_t> wall_ns{INT64_MIN};
  std::atomic<Monotonic::rep> mono_ticks{std::numeric_limits<Monotonic::rep>::min()};

  alignas(64) std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // Guarded by mu.
  std::thread thread;
};

CachedClock::CachedClock(std::chrono::nanoseconds resolution, Clock& source)
    : impl_(std::make_unique<Impl>(resolution, source)) {
  // Read once synchronously so the very first NowNanos() is already valid.
  impl_->Refresh();
  // If the thread cannot be started, std::thread throws std::system_error, as
  // allocation failure throws std::bad_alloc: the process is out of resources.
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
}

CachedClock::~CachedClock() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

int64_t CachedClock::NowNanos() { return impl_->wall_ns.load(std::memory_order_relaxed); }

Clock::Wall CachedClock::WallNow() {
  return Wall(std::chrono::duration_cast<Wall::duration>(std::chrono::nanoseconds(NowNanos())));
}

Clock::Monotonic CachedClock::MonotonicNow() {
  return Monotonic(Monotonic::duration(impl_->mono_ticks.load(std::memory_order_acquire)));
}

void CachedClock::SleepFor(std::chrono::nanoseconds d) {
  // Sleeping is the source's business: a simulated source wakes the sleeper on
  // Advance(), a real one after real time.
  impl_->source.SleepFor(d);
}

}  // namespace sluice
