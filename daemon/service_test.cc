// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/service.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sluice/memory_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;

// 30 s into a minute (1'700'000'010 = 28'333'333 minutes + 30 s): 30 s left.
constexpr int64_t kNow = 1'700'000'010'000'000'000;

constexpr char kRules[] = R"(
domain: web
descriptors:
  - key: remote_address
    rate_limit: {unit: minute, requests_per_unit: 3}
  - key: remote_address
    value: 10.0.0.1
    rate_limit: {unlimited: true}
  - key: remote_address
    value: 10.0.0.2
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: header_match
    value: health
  - key: path
    value: /login
    descriptors:
      - key: remote_address
        rate_limit: {unit: hour, requests_per_unit: 2, name: login}
  - key: user
    rate_limit: {unit: hour, requests_per_unit: 100, replaces: [{name: login}]}
  - key: shadowed
    shadow_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: soft_a
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: soft_b
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: banned
    rate_limit: {unit: second, requests_per_unit: 0}
)";

RlsDescriptor Desc(std::initializer_list<std::pair<const char*, const char*>> entries) {
  RlsDescriptor d;
  for (const auto& [k, v] : entries) d.entries.push_back(RlsEntry{k, v});
  return d;
}

RlsRequest Req(std::vector<RlsDescriptor> descriptors, uint32_t hits = 0) {
  RlsRequest r;
  r.domain = "web";
  r.descriptors = std::move(descriptors);
  r.hits_addend = hits;
  return r;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Build({}); }

  void Build(ServiceOptions overrides) {
    service_.reset();
    MemoryStoreOptions mo;
    mo.clock = &clock_;
    mo.sweep_interval = std::chrono::nanoseconds(0);
    store_ = std::move(*MemoryStore::Create(mo));
    overrides.store = store_.get();
    overrides.metrics = &metrics_;
    overrides.clock = &clock_;
    service_ = std::move(*RateLimitService::Create(overrides));
    RuleFile file{"web.yaml", kRules};
    Result<std::shared_ptr<const RuleSet>> rules = RuleSet::LoadFiles(std::span<const RuleFile>(&file, 1));
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    service_->SetRules(*rules);
  }

  RlsResponse Decide(const RlsRequest& request) {
    Result<RlsResponse> r = service_->ShouldRateLimitNow(request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RlsResponse{};
  }

  testing::SimulatedClock clock_{kNow};
  DaemonMetrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RateLimitService> service_;
};

TEST_F(ServiceTest, FixedWindowCountsDownThenDeniesWithUpstreamFields) {
  for (uint32_t want = 2;; --want) {
    RlsResponse r = Decide(Req({Desc({{"remote_address", "1.2.3.4"}})}));
    ASSERT_EQ(r.statuses.size(), 1u);
    const RlsDescriptorStatus& s = r.statuses[0];
    ASSERT_TRUE(s.current_limit.has_value());
    EXPECT_EQ(s.current_limit->requests_per_unit, 3u);
    EXPECT_EQ(s.current_limit->unit, RlsUnit::kMinute);
    EXPECT_EQ(s.duration_until_reset, std::chrono::seconds(30));
    EXPECT_EQ(r.overall_code, RlsCode::kOk);
    EXPECT_EQ(s.limit_remaining, want);
    if (want == 0) break;
  }
  RlsResponse over = Decide(Req({Desc({{"remote_address", "1.2.3.4"}})}));
  EXPECT_EQ(over.overall_code, RlsCode::kOverLimit);
  EXPECT_EQ(over.statuses[0].code, RlsCode::kOverLimit);
  EXPECT_EQ(over.statuses[0].limit_remaining, 0u);
  // Another address has its own counter; the next window starts afresh.
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "5.6.7.8"}})})).overall_code, RlsCode::kOk);
  clock_.Advance(std::chrono::seconds(30));
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "1.2.3.4"}})})).statuses[0].limit_remaining, 2u);

  RuleCounters& c = metrics_.Rule("web", "remote_address");
  // Both addresses count under the rule's one series (no detailed_metric).
  EXPECT_EQ(c.hits.load(), 6u);
  EXPECT_EQ(c.over_limit.load(), 1u);
  EXPECT_EQ(c.within_limit.load(), 5u);
}

TEST_F(ServiceTest, UnknownDomainAndUnmatchedDescriptorsAreOkWithoutLimit) {
  RlsRequest r = Req({Desc({{"nothing", "here"}})});
  RlsResponse resp = Decide(r);
  EXPECT_EQ(resp.overall_code, RlsCode::kOk);
  EXPECT_FALSE(resp.statuses[0].current_limit.has_value());
  EXPECT_EQ(resp.statuses[0].limit_remaining, 0u);
  r.domain = "elsewhere";
  r.descriptors = {Desc({{"remote_address", "1.2.3.4"}})};
  EXPECT_FALSE(Decide(r).statuses[0].current_limit.has_value());
  // A whitelisted entry (no rate_limit) matches and never limits.
  EXPECT_FALSE(Decide(Req({Desc({{"header_match", "health"}})})).statuses[0].current_limit.has_value());
}

TEST_F(ServiceTest, UnlimitedNeverTouchesTheStore) {
  RlsResponse r = Decide(Req({Desc({{"remote_address", "10.0.0.1"}})}, 1000));
  EXPECT_EQ(r.overall_code, RlsCode::kOk);
  EXPECT_EQ(r.statuses[0].limit_remaining, std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(store_->Stats().keys, 0u);
}

TEST_F(ServiceTest, ZeroRequestsPerUnitBansWithoutTouchingTheStore) {
  RlsResponse r = Decide(Req({Desc({{"banned", "x"}})}));
  EXPECT_EQ(r.overall_code, RlsCode::kOverLimit);
  EXPECT_EQ(r.statuses[0].current_limit->requests_per_unit, 0u);
  EXPECT_EQ(r.statuses[0].limit_remaining, 0u);
  EXPECT_EQ(store_->Stats().keys, 0u);
}

TEST_F(ServiceTest, KeyValueRuleWinsOverKeyOnly) {
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "10.0.0.2"}})})).statuses[0].current_limit->requests_per_unit, 1u);
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "10.0.0.2"}})})).overall_code, RlsCode::kOverLimit);
}

TEST_F(ServiceTest, HitsAddendPerRequestAndPerDescriptor) {
  // Request-level hits 2 on a limit of 3: one left.
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "a"}})}, 2)).statuses[0].limit_remaining, 1u);
  // Descriptor-level 0 only looks.
  RlsDescriptor peek = Desc({{"remote_address", "a"}});
  peek.hits_addend = 0;
  RlsResponse looked = Decide(Req({peek}, 5));
  EXPECT_EQ(looked.overall_code, RlsCode::kOk);
  EXPECT_EQ(looked.statuses[0].limit_remaining, 1u);
  // More than the limit can ever grant: over, and nothing is charged.
  RlsDescriptor big = Desc({{"remote_address", "a"}});
  big.hits_addend = 10;
  EXPECT_EQ(Decide(Req({big})).overall_code, RlsCode::kOverLimit);
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "a"}})})).statuses[0].limit_remaining, 0u);
}

TEST_F(ServiceTest, StatusesFollowRequestOrderAndAnyOverMakesTheRequestOver) {
  RlsResponse r = Decide(Req({Desc({{"header_match", "health"}}), Desc({{"remote_address", "10.0.0.2"}}),
                              Desc({{"remote_address", "b"}})}));
  ASSERT_EQ(r.statuses.size(), 3u);
  EXPECT_FALSE(r.statuses[0].current_limit.has_value());
  EXPECT_EQ(r.statuses[1].current_limit->requests_per_unit, 1u);
  EXPECT_EQ(r.statuses[2].current_limit->requests_per_unit, 3u);
  EXPECT_EQ(r.overall_code, RlsCode::kOk);
  RlsResponse again = Decide(Req({Desc({{"remote_address", "10.0.0.2"}}), Desc({{"remote_address", "b"}})}));
  EXPECT_EQ(again.overall_code, RlsCode::kOverLimit);
  EXPECT_EQ(again.statuses[0].code, RlsCode::kOverLimit);
  EXPECT_EQ(again.statuses[1].code, RlsCode::kOk);
}

TEST_F(ServiceTest, ReplacesDropsTheNamedLimit) {
  const RlsDescriptor login = Desc({{"path", "/login"}, {"remote_address", "c"}});
  const RlsDescriptor user = Desc({{"user", "u1"}});
  for (int i = 0; i < 5; ++i) {
    RlsResponse r = Decide(Req({login, user}));
    EXPECT_EQ(r.overall_code, RlsCode::kOk) << i;
    EXPECT_FALSE(r.statuses[0].current_limit.has_value());
    EXPECT_EQ(r.statuses[1].current_limit->requests_per_unit, 100u);
  }
  // Alone, the login limit applies (2 an hour).
  EXPECT_EQ(Decide(Req({login})).statuses[0].limit_remaining, 1u);
}

TEST_F(ServiceTest, ShadowModeAnswersOkButCounts) {
  EXPECT_EQ(Decide(Req({Desc({{"shadowed", "x"}})})).overall_code, RlsCode::kOk);
  RlsResponse r = Decide(Req({Desc({{"shadowed", "x"}})}));
  EXPECT_EQ(r.overall_code, RlsCode::kOk);
  EXPECT_EQ(r.statuses[0].code, RlsCode::kOk);
  EXPECT_EQ(metrics_.Rule("web", "shadowed").shadow_mode.load(), 1u);
  EXPECT_EQ(metrics_.Rule("web", "shadowed").over_limit.load(), 1u);
}

TEST_F(ServiceTest, GlobalShadowModeCoversEveryRule) {
  ServiceOptions o;
  o.shadow_mode = true;
  Build(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Decide(Req({Desc({{"remote_address", "10.0.0.2"}})})).overall_code, RlsCode::kOk);
  EXPECT_EQ(metrics_.Rule("web", "remote_address_10.0.0.2").shadow_mode.load(), 4u);
}

TEST_F(ServiceTest, QuotaModeDeniesOnlyWhenEveryQuotaDescriptorIsOver) {
  const RlsDescriptor a = Desc({{"soft_a", "x"}});
  const RlsDescriptor b = Desc({{"soft_b", "x"}});
  EXPECT_EQ(Decide(Req({a})).overall_code, RlsCode::kOk);
  // a is over, b is not: soft limits do not deny yet.
  RlsResponse one_over = Decide(Req({a, b}));
  EXPECT_EQ(one_over.statuses[0].code, RlsCode::kOverLimit);
  EXPECT_EQ(one_over.overall_code, RlsCode::kOk);
  RlsResponse both_over = Decide(Req({a, b}));
  EXPECT_EQ(both_over.overall_code, RlsCode::kOverLimit);
}

TEST_F(ServiceTest, AllOrNothingChargesNothingWhenOneIsOver) {
  ServiceOptions o;
  o.all_or_nothing = true;
  Build(o);
  Decide(Req({Desc({{"remote_address", "10.0.0.2"}})}));  // uses up the 1/min limit
  RlsResponse r = Decide(Req({Desc({{"remote_address", "d"}}), Desc({{"remote_address", "10.0.0.2"}})}));
  EXPECT_EQ(r.overall_code, RlsCode::kOverLimit);
  // "d" was not charged by the denied request.
  EXPECT_EQ(Decide(Req({Desc({{"remote_address", "d"}})})).statuses[0].limit_remaining, 2u);
}

TEST_F(ServiceTest, LimitOverrideReplacesTheConfiguredLimit) {
  RlsDescriptor d = Desc({{"remote_address", "e"}});
  d.limit = RlsLimitOverride{7, RlsUnit::kHour};
  RlsResponse r = Decide(Req({d}));
  EXPECT_EQ(r.statuses[0].current_limit->requests_per_unit, 7u);
  EXPECT_EQ(r.statuses[0].current_limit->unit, RlsUnit::kHour);
  EXPECT_EQ(r.statuses[0].limit_remaining, 6u);
}

TEST_F(ServiceTest, RejectsMalformedAndOversizedRequests) {
  ServiceOptions o;
  o.limits.max_descriptors = 2;
  o.limits.max_entries = 2;
  o.limits.max_key_bytes = 8;
  o.limits.max_value_bytes = 8;
  Build(o);
  struct Case {
    RlsRequest request;
    const char* message;
  };
  RlsRequest no_domain = Req({Desc({{"a", "b"}})});
  no_domain.domain.clear();
  std::vector<Case> cases = {
      {no_domain, "domain must not be empty"},
      {Req({}), "descriptor list must not be empty"},
      {Req({Desc({{"a", "b"}}), Desc({{"a", "b"}}), Desc({{"a", "b"}})}), "at most 2"},
      {Req({Desc({})}), "no entries"},
      {Req({Desc({{"a", "1"}, {"b", "2"}, {"c", "3"}})}), "at most 2"},
      {Req({Desc({{"", "b"}})}), "without a key"},
      {Req({Desc({{"a-very-long-key", "b"}})}), "longer than 8"},
      {Req({Desc({{"a", "a-very-long-value"}})}), "longer than 8"},
  };
  for (const Case& c : cases) {
    Result<RlsResponse> r = service_->ShouldRateLimitNow(c.request);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message));
  }
}

TEST_F(ServiceTest, ResponseHeadersComeFromTheMostRestrictiveStatus) {
  ServiceOptions o;
  o.response_headers = true;
  o.header_mode = HeaderMode::kDraft;
  Build(o);
  RlsResponse r = Decide(Req({Desc({{"remote_address", "f"}}), Desc({{"remote_address", "10.0.0.2"}})}));
  auto find = [&](const std::string& name) -> std::string {
    for (const RlsHeader& h : r.response_headers_to_add) {
      if (h.key == name) return h.value;
    }
    return "<absent>";
  };
  EXPECT_EQ(find("RateLimit-Limit"), "1");
  EXPECT_EQ(find("RateLimit-Remaining"), "0");
  EXPECT_EQ(find("RateLimit-Reset"), "30");
  EXPECT_EQ(find("Retry-After"), "<absent>");
}

TEST(RateLimitHeadersTest, IetfDraftAndXRateLimitForms) {
  const HeaderLimit limits[] = {{"burst", 100, 60, 50, 30}, {"daily", 1000, 86400, 900, 3600}};
  std::vector<RlsHeader> ietf = RateLimitHeaders(HeaderMode::kIetf, false, limits, 30, 0);
  ASSERT_EQ(ietf.size(), 3u);
  EXPECT_EQ(ietf[0].key, "RateLimit-Policy");
  EXPECT_EQ(ietf[0].value, "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400");
  EXPECT_EQ(ietf[1].value, "\"burst\";r=50;t=30");
  EXPECT_EQ(ietf[2].key, "Retry-After");
  std::vector<RlsHeader> x = RateLimitHeaders(HeaderMode::kXRateLimit, true, limits, 0, 1'000'000);
  ASSERT_EQ(x.size(), 3u);
  EXPECT_EQ(x[2].key, "X-RateLimit-Reset");
  EXPECT_EQ(x[2].value, "1000030");
  EXPECT_TRUE(RateLimitHeaders(HeaderMode::kNone, false, limits, 0, 0).empty());
}

// A store whose decisions wait until the test releases them: a remote store
// that stopped answering.
class StallingStore : public Store {
 public:
  explicit StallingStore(Store& base) : base_(base) {}
  std::string_view name() const override { return "stalling"; }
  Clock& clock() const override { return base_.clock(); }
  Result<Decision> Decide(const DecideRequest& r) override {
    Wait();
    return base_.Decide(r);
  }
  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> r) override {
    Wait();
    return base_.DecideBatch(r);
  }
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> r) override {
    Wait();
    return base_.DecideAll(r);
  }
  Result<std::optional<Record>> AtomicUpdate(std::string_view k, const UpdateFn& fn, const UpdateOptions& o) override {
    return base_.AtomicUpdate(k, fn, o);
  }
  Result<std::optional<Record>> Get(std::string_view k) override { return base_.Get(k); }
  Status Put(const Record& r) override { return base_.Put(r); }
  Status Delete(std::string_view k) override { return base_.Delete(k); }
  Status Scan(std::string_view p, const ScanVisitor& v) override { return base_.Scan(p, v); }
  Status Flush() override { return base_.Flush(); }
  StoreStats Stats() const override { return base_.Stats(); }
  Status Health() override {
    Wait();
    return Status::Ok();
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return released_; });
  }
  Store& base_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

// A service deciding on `store` as on a remote store, with the test rules.
std::unique_ptr<RateLimitService> RemoteService(Store& store, DaemonMetrics& metrics, FailMode mode,
                                                std::chrono::milliseconds deadline, int workers,
                                                size_t max_queued = 10'000) {
  ServiceOptions o;
  o.store = &store;
  o.metrics = &metrics;
  o.remote_store = true;
  o.deadline = deadline;
  o.workers = workers;
  o.max_queued = max_queued;
  o.failure_mode = mode;
  std::unique_ptr<RateLimitService> service = std::move(*RateLimitService::Create(o));
  RuleFile file{"web.yaml", kRules};
  service->SetRules(*RuleSet::LoadFiles(std::span<const RuleFile>(&file, 1)));
  return service;
}

TEST(RemoteServiceTest, AStalledStoreGetsTheFailureAnswerAtTheDeadline) {
  std::unique_ptr<MemoryStore> memory = std::move(*MemoryStore::Create({}));
  DaemonMetrics metrics;
  for (FailMode mode : {FailMode::kOpen, FailMode::kClosed, FailMode::kError, FailMode::kFallback}) {
    StallingStore stalling(*memory);
    std::unique_ptr<RateLimitService> service =
        RemoteService(stalling, metrics, mode, std::chrono::milliseconds(20), /*workers=*/2);
    std::promise<Result<RlsResponse>> answered;
    service->ShouldRateLimit(Req({Desc({{"remote_address", "1.1.1.1"}})}),
                             [&](Result<RlsResponse> r) { answered.set_value(std::move(r)); });
    std::future<Result<RlsResponse>> f = answered.get_future();
    // The answer comes from the deadline, while the store is still stalled.
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    Result<RlsResponse> r = f.get();
    switch (mode) {
      case FailMode::kOpen:
      case FailMode::kFallback:  // what even the fallback could not answer is allowed
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->overall_code, RlsCode::kOk);
        break;
      case FailMode::kClosed:
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->overall_code, RlsCode::kOverLimit);
        break;
      case FailMode::kError:
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
        break;
    }
    stalling.Release();
    service->Shutdown();
  }
}

TEST(RemoteServiceTest, AFullQueueIsRefusedAtOnce) {
  std::unique_ptr<MemoryStore> memory = std::move(*MemoryStore::Create({}));
  StallingStore stalling(*memory);
  DaemonMetrics metrics;
  std::unique_ptr<RateLimitService> service =
      RemoteService(stalling, metrics, FailMode::kError, std::chrono::seconds(20), /*workers=*/1, /*max_queued=*/1);
  std::vector<std::promise<Status>> promises(3);
  for (auto& p : promises) {
    service->ShouldRateLimit(Req({Desc({{"remote_address", "1.1.1.1"}})}),
                             [&p](Result<RlsResponse> r) { p.set_value(r.status()); });
  }
  // One is with the (stalled) worker, one waits in the queue, the third is
  // refused without waiting for the deadline.
  std::future<Status> third = promises[2].get_future();
  ASSERT_EQ(third.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Status s = third.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("too many"));
  stalling.Release();
  service->Shutdown();
}

TEST(RemoteServiceTest, ShutdownAnswersQueuedAndRunningCallsAtOnce) {
  std::unique_ptr<MemoryStore> memory = std::move(*MemoryStore::Create({}));
  StallingStore stalling(*memory);
  DaemonMetrics metrics;
  std::unique_ptr<RateLimitService> service =
      RemoteService(stalling, metrics, FailMode::kError, std::chrono::seconds(20), /*workers=*/1, /*max_queued=*/4);
  std::vector<std::promise<Status>> promises(3);
  std::vector<std::future<Status>> answers;
  for (auto& p : promises) {
    answers.push_back(p.get_future());
    service->ShouldRateLimit(Req({Desc({{"remote_address", "1.1.1.1"}})}),
                             [&p](Result<RlsResponse> r) { p.set_value(r.status()); });
  }
  // One call is with the stalled worker, two wait in the queue. Shutdown
  // answers all three long before their deadline, then waits for the worker.
  std::thread stopper([&] { service->Shutdown(); });
  for (std::future<Status>& answer : answers) {
    ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    Status s = answer.get();
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_THAT(std::string(s.message()), HasSubstr("shutting down"));
  }
  stalling.Release();
  stopper.join();
  // After shutdown, calls are answered at once too.
  std::promise<Status> late;
  service->ShouldRateLimit(Req({Desc({{"remote_address", "1.1.1.1"}})}),
                           [&late](Result<RlsResponse> r) { late.set_value(r.status()); });
  std::future<Status> late_answer = late.get_future();
  ASSERT_EQ(late_answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(late_answer.get().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sluice::daemon
