// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A small test-and-test-and-set lock for critical sections of a few dozen
// nanoseconds (one shard's table), where an uncontended std::mutex costs as much
// as the work it guards. It yields to the scheduler after a short spin, so it
// stays fair enough with more threads than cores.

#pragma once

#include <atomic>
#include <thread>

namespace sluice::internal {

class SpinLock {
 public:
  void lock() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) {
          std::this_thread::yield();
        } else {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        }
      }
    }
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace sluice::internal
