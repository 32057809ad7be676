// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// StoreWrapper: a Store that forwards every call to another store. It is the
// base of decorators that change a few calls and pass the rest through
// (fault injection in tests, resilience, compression): a subclass overrides
// what it changes and inherits the forwarding of everything else, including
// the batched and asynchronous calls, so a wrapped store keeps its fast paths.
//
// The wrapped store is shared: the wrapper keeps it alive and others may hold
// it too.
//
// Thread-safety: as the wrapped store (every Store is thread-safe); a
// subclass adds its own state under its own synchronization.
//
// Errors: those of the wrapped store.

#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

class SLUICE_EXPORT StoreWrapper : public Store {
 public:
  // REQUIRES: base != nullptr.
  explicit StoreWrapper(std::shared_ptr<Store> base) : base_(std::move(base)) {}

  // The wrapped store.
  Store& base() const { return *base_; }
  const std::shared_ptr<Store>& shared_base() const { return base_; }

  std::string_view name() const override { return base_->name(); }
  Clock& clock() const override { return base_->clock(); }
  using Store::Decide;
  Result<Decision> Decide(const DecideRequest& request) override { return base_->Decide(request); }
  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests) override {
    return base_->DecideBatch(requests);
  }
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    return base_->DecideAll(requests);
  }
  void DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) override {
    base_->DecideAsync(request, std::move(done));
  }
  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options = {}) override {
    return base_->AtomicUpdate(key, fn, options);
  }
  Result<std::optional<Record>> Get(std::string_view key) override { return base_->Get(key); }
  using Store::Put;
  Status Put(const Record& record) override { return base_->Put(record); }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Status Scan(std::string_view prefix, const ScanVisitor& visit) override { return base_->Scan(prefix, visit); }
  Status Flush() override { return base_->Flush(); }
  StoreStats Stats() const override { return base_->Stats(); }
  Status Health() override { return base_->Health(); }

 private:
  std::shared_ptr<Store> base_;
};

}  // namespace sluice
