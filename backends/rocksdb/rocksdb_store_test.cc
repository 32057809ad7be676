// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "rocksdb_test_util.h"
#include "sluice/backends/rocksdb.h"
#include "sluice/testing/store_conformance.h"

namespace sluice::rocksdb {
namespace {

using testing_util::NewTestPath;

sluice::testing::StoreFactory Factory(SyncMode mode) {
  return {std::string(SyncModeName(mode)), [mode](Clock& clock) -> Result<std::unique_ptr<Store>> {
            auto made = CreateRocksDbStore({.path = NewTestPath("conformance"), .sync = mode, .clock = &clock});
            if (!made.ok()) return made.status();
            return std::unique_ptr<Store>(std::move(*made));
          }};
}

using sluice::testing::StoreConformanceTest;

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
                         ::testing::Values(Factory(SyncMode::kEveryWrite), Factory(SyncMode::kPeriodic),
                                           Factory(SyncMode::kNone)),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sluice::rocksdb
