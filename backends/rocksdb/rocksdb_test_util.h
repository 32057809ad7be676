// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Temporary directories for the RocksDB tests: one root per test process
// (under $TMPDIR, default /tmp), removed when the process exits normally.

#pragma once

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace sluice::rocksdb::testing_util {

inline const std::string& TestRoot() {
  static const std::string root = [] {
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/sluice-rocksdb-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    static struct Cleanup {
      std::string dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{pattern};
    return pattern;
  }();
  return root;
}

// A path that does not exist yet, unique within the process.
inline std::string NewTestPath(const std::string& name) {
  static std::atomic<int> n{0};
  return TestRoot() + "/" + name + "-" + std::to_string(n.fetch_add(1));
}

}  // namespace sluice::rocksdb::testing_util
