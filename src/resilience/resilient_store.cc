// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Temporary: forwards every call, so that the header can be built against
// while the implementation is written.

#include "sluice/resilient_store.h"

namespace sluice {

std::string_view FailModeName(FailMode mode) {
  switch (mode) {
    case FailMode::kOpen: return "open";
    case FailMode::kClosed: return "closed";
    case FailMode::kFallback: return "fallback";
    case FailMode::kError: return "error";
  }
  return "unknown";
}

Result<FailMode> ParseFailMode(std::string_view name) {
  for (FailMode m : {FailMode::kOpen, FailMode::kClosed, FailMode::kFallback, FailMode::kError}) {
    if (FailModeName(m) == name) return m;
  }
  return InvalidArgumentError("unknown fail mode");
}

Status RetryOptions::Validate() const { return Status::Ok(); }
Status FallbackOptions::Validate() const { return Status::Ok(); }
Status ReconcileOptions::Validate() const { return Status::Ok(); }
Status ResilientStoreOptions::Validate() const { return Status::Ok(); }

struct ResilientStore::Impl {
  ResilientStoreOptions options;
  std::unique_ptr<CircuitBreaker> breaker;
};

ResilientStore::ResilientStore(std::shared_ptr<Store> base, std::shared_ptr<Impl> impl)
    : StoreWrapper(std::move(base)), impl_(std::move(impl)) {}
ResilientStore::~ResilientStore() = default;
Clock& ResilientStore::clock() const { return StoreWrapper::clock(); }
Result<Decision> ResilientStore::Decide(const DecideRequest& r) { return StoreWrapper::Decide(r); }
std::vector<Result<Decision>> ResilientStore::DecideBatch(std::span<const DecideRequest> r) {
  return StoreWrapper::DecideBatch(r);
}
Result<MultiDecision> ResilientStore::DecideAll(std::span<const DecideRequest> r) { return StoreWrapper::DecideAll(r); }
void ResilientStore::DecideAsync(const DecideRequest& r, std::function<void(Result<Decision>)> done) {
  StoreWrapper::DecideAsync(r, std::move(done));
}
Result<std::optional<Record>> ResilientStore::AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                                           const UpdateOptions& o) {
  return StoreWrapper::AtomicUpdate(key, fn, o);
}
Result<std::optional<Record>> ResilientStore::Get(std::string_view key) { return StoreWrapper::Get(key); }
Status ResilientStore::Put(const Record& r) { return StoreWrapper::Put(r); }
Status ResilientStore::Delete(std::string_view key) { return StoreWrapper::Delete(key); }
Status ResilientStore::Scan(std::string_view p, const ScanVisitor& v) { return StoreWrapper::Scan(p, v); }
Status ResilientStore::Health() { return StoreWrapper::Health(); }
FailMode ResilientStore::FailModeFor(std::string_view) const { return impl_->options.fail_mode; }
CircuitBreaker& ResilientStore::breaker() const { return *impl_->breaker; }
BreakerState ResilientStore::breaker_state() const { return impl_->breaker->state(); }
ReconcileResult ResilientStore::Reconcile() { return {}; }
ResilienceStats ResilientStore::GetResilienceStats() const { return {}; }
const ResilientStoreOptions& ResilientStore::options() const { return impl_->options; }

Result<std::shared_ptr<ResilientStore>> NewResilientStore(std::shared_ptr<Store> base,
                                                          ResilientStoreOptions options) {
  if (base == nullptr) return InvalidArgumentError("NewResilientStore: base store is null");
  auto impl = std::make_shared<ResilientStore::Impl>();
  SLUICE_ASSIGN_OR_RETURN(impl->breaker, CircuitBreaker::Create(options.breaker));
  impl->options = std::move(options);
  return std::shared_ptr<ResilientStore>(new ResilientStore(std::move(base), std::move(impl)));
}

}  // namespace sluice
