// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "sluice/memory_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::SimulatedClock;

// Forwards to a store and answers every denial with retry_after 0, as a store
// that cannot predict a wait may. Counts decisions and fails after `max_calls`,
// so a caller that never stops retrying ends with an error, not a hung test.
class NoWaitDenyingStore final : public Store {
 public:
  NoWaitDenyingStore(std::shared_ptr<Store> inner, int max_calls) : inner_(std::move(inner)), max_calls_(max_calls) {}

  std::string_view name() const override { return "no-wait"; }
  Clock& clock() const override { return inner_->clock(); }
  Result<Decision> Decide(const DecideRequest& request) override {
    if (calls_.fetch_add(1) >= max_calls_) return InternalError("too many decisions: the caller never stops");
    SLUICE_ASSIGN_OR_RETURN(Decision d, inner_->Decide(request));
    if (!d.allowed) d.retry_after = std::chrono::nanoseconds(0);
    return d;
  }
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    return inner_->DecideAll(requests);
  }
  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    return inner_->AtomicUpdate(key, fn, options);
  }
  Result<std::optional<Record>> Get(std::string_view key) override { return inner_->Get(key); }
  Status Put(const Record& record) override { return inner_->Put(record); }
  Status Delete(std::string_view key) override { return inner_->Delete(key); }
  Status Scan(std::string_view prefix, const ScanVisitor& visit) override { return inner_->Scan(prefix, visit); }
  Status Flush() override { return inner_->Flush(); }
  StoreStats Stats() const override { return inner_->Stats(); }
  Status Health() override { return inner_->Health(); }

  int calls() const { return calls_.load(); }

 private:
  std::shared_ptr<Store> inner_;
  const int max_calls_;
  std::atomic<int> calls_{0};
};

class RateLimiterTest : public ::testing::Test {
 protected:
  RateLimiterTest() : store_(std::move(*MemoryStore::Create({.clock = &clock_, .sweep_interval = {}}))) {}

  std::unique_ptr<LimiterFactory> Factory(LimiterConfig config) {
    Result<std::unique_ptr<LimiterFactory>> f = LimiterFactory::Create(config, store_);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(*f) : nullptr;
  }

  SimulatedClock clock_;
  std::shared_ptr<Store> store_;
};

TEST_F(RateLimiterTest, SeedFactoryShape) {
  auto factory = Factory({.policy = "token_bucket", .id = "api", .limit = 100,
                          .rate = {.interval = "1 minute", .amount = 100}});
  KeyedLimiter user = factory->Create("user-123");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(user.Consume()->allowed) << i;
  Result<Decision> denied = user.Consume();
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->limit, 100);
  EXPECT_EQ(denied->remaining, 0);
  EXPECT_EQ(denied->retry_after, milliseconds(600));  // one token per 600 ms
  EXPECT_EQ(*user.Reserve(5), seconds(3));
  // Another key is independent.
  EXPECT_TRUE(factory->Create("user-456").Consume(100)->allowed);
  clock_.Advance(milliseconds(600));
  EXPECT_TRUE(user.Consume()->allowed);
}

TEST_F(RateLimiterTest, EveryPolicyName) {
  for (const char* name : {"token_bucket", "gcra"}) {
    auto f = Factory({.policy = name, .id = name, .limit = 3, .rate = {.interval = "1s", .amount = 1}});
    ASSERT_NE(f, nullptr) << name;
    EXPECT_TRUE(f->Create("k").Consume(3)->allowed);
    EXPECT_FALSE(f->Create("k").Consume(1)->allowed);
  }
  for (const char* name : {"fixed_window", "sliding_window", "sliding_window_log", "sliding_window_counter"}) {
    auto f = Factory({.policy = name, .id = name, .limit = 3, .rate = {.interval = "10s"}});
    ASSERT_NE(f, nullptr) << name;
    EXPECT_TRUE(f->Create("k").Consume(3)->allowed);
    EXPECT_FALSE(f->Create("k").Consume(1)->allowed) << name;
  }
  auto monthly = Factory({.policy = "fixed_window", .id = "m", .limit = 1000, .rate = {.interval = "0"},
                          .alignment = "month"});
  ASSERT_NE(monthly, nullptr);
  EXPECT_EQ(monthly->limiter().policy().alignment, WindowAlignment::kCalendarMonth);
}

TEST_F(RateLimiterTest, ConfigErrorsAreClear) {
  auto err = [&](LimiterConfig c) { return LimiterFactory::Create(c, store_).status(); };
  Status s = err({.policy = "leaky_bucket", .id = "x", .limit = 1, .rate = {.interval = "1s", .amount = 1}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("leaky_bucket"), std::string_view::npos);
  s = err({.policy = "token_bucket", .id = "x", .limit = 1, .rate = {.interval = "1 fortnight", .amount = 1}});
  EXPECT_NE(s.message().find("rate.interval"), std::string_view::npos) << s.ToString();
  s = err({.policy = "token_bucket", .id = "", .limit = 1, .rate = {.interval = "1s", .amount = 1}});
  EXPECT_NE(s.message().find("id"), std::string_view::npos);
  s = err({.policy = "token_bucket", .id = "x", .limit = 0, .rate = {.interval = "1s", .amount = 1}});
  EXPECT_NE(s.message().find("limit"), std::string_view::npos);
  s = err({.policy = "fixed_window", .id = "x", .limit = 10, .rate = {.interval = "1s", .amount = 3}});
  EXPECT_NE(s.message().find("conflicts"), std::string_view::npos);
  s = err({.policy = "token_bucket", .id = "x", .limit = 1, .rate = {.interval = "1s", .amount = 1}, .alignment = "day"});
  EXPECT_NE(s.message().find("alignment"), std::string_view::npos);
  EXPECT_EQ(LimiterFactory::Create({.policy = "gcra", .id = "x", .limit = 1, .rate = {.interval = "1s", .amount = 1}},
                                   nullptr)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(RateLimiterTest, ConfigFromJson) {
  Result<LimiterConfig> config = LimiterConfig::FromJson(
      R"({"policy": "token_bucket", "id": "api", "limit": 100, "rate": {"interval": "1 minute", "amount": 100}})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(*config->ToPolicy(), Policy::TokenBucket(100, 100, std::chrono::minutes(1)));
  auto f = Factory(*config);
  EXPECT_EQ(f->Create("u").Consume(100)->remaining, 0);
  config = LimiterConfig::FromJson(
      R"({"policy": "fixed_window", "id": "d", "limit": 5, "rate": {"interval": "0"}, "alignment": "day",
          "prefix": "x", "shadowMode": true})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->shadow_mode);
  EXPECT_EQ(config->prefix, "x");
  // Errors name the field.
  auto error = [](std::string_view json) { return std::string(LimiterConfig::FromJson(json).status().message()); };
  EXPECT_NE(error(R"({"policy": "token_bucket", "id": "a", "limit": "100", "rate": {"interval": "1s"}})")
                .find("config.limit"),
            std::string::npos);
  EXPECT_NE(error(R"({"policy": "token_bucket", "id": "a", "limit": 1, "rate": {"interval": "1s", "amount": 1},
                      "burst": 3})")
                .find("burst"),
            std::string::npos);
  EXPECT_NE(error(R"({"policy": "token_bucket", "id": "a", "limit": 1})").find("config.rate"), std::string::npos);
  EXPECT_NE(error(R"({"policy": "token_bucket", "id": "a", "limit": 1, "rate": {"interval": "soon", "amount": 1}})")
                .find("rate.interval"),
            std::string::npos);
  EXPECT_FALSE(LimiterConfig::FromJson("{").ok());
}

TEST(StoreKey, IsInjective) {
  // Random parts over an alphabet full of separators and escape characters.
  const std::string alphabet = "a:%{}3A7B";
  std::mt19937_64 rng(42);
  auto part = [&] {
    std::string s;
    for (size_t n = rng() % 5; n > 0; --n) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  std::set<std::tuple<std::string, std::string, std::string>> parts;
  std::set<std::string> keys;
  for (int i = 0; i < 20000; ++i) {
    auto t = std::make_tuple(part(), part(), part());
    if (parts.insert(t).second) {
      const std::string k = StoreKey(std::get<0>(t), std::get<1>(t), std::get<2>(t));
      ASSERT_TRUE(keys.insert(k).second) << "collision: " << k;
      // Exactly one hash tag, ours, holding the user key.
      EXPECT_EQ(std::count(k.begin(), k.end(), '{'), 1) << k;
      EXPECT_EQ(std::count(k.begin(), k.end(), '}'), 1) << k;
      EXPECT_EQ(k.back(), '}');
      EXPECT_GT(k.size() - k.find('{'), 2u) << "empty hash tag in " << k;
    }
  }
  EXPECT_EQ(StoreKey("rl", "api", "user:1"), "rl:api:{user%3A1}");
  EXPECT_EQ(StoreKey("rl", "api", ""), "rl:api:{%}");
}

TEST_F(RateLimiterTest, NamespacesNeverCollide) {
  auto a = Factory({.policy = "fixed_window", .id = "x", .limit = 1, .rate = {.interval = "1h"}});
  auto b = Factory({.policy = "fixed_window", .id = "x:a", .limit = 1, .rate = {.interval = "1h"}});
  EXPECT_TRUE(a->Create("a:b").Consume()->allowed);
  EXPECT_TRUE(b->Create("b").Consume()->allowed);  // "x" + "a:b" must not equal "x:a" + "b"
  EXPECT_FALSE(a->Create("a:b").Consume()->allowed);
}

TEST_F(RateLimiterTest, ShadowModeAdmitsButMarks) {
  auto f = Factory({.policy = "fixed_window", .id = "s", .limit = 1, .rate = {.interval = "1h"}, .shadow_mode = true});
  KeyedLimiter k = f->Create("k");
  Decision first = *k.Consume();
  EXPECT_TRUE(first.allowed);
  EXPECT_FALSE(first.shadow_denied);
  Decision second = *k.Consume();
  EXPECT_TRUE(second.allowed);
  EXPECT_TRUE(second.shadow_denied);
  EXPECT_EQ(second.retry_after.count(), 0);
}

TEST_F(RateLimiterTest, PeekRefundReset) {
  auto f = Factory({.policy = "token_bucket", .id = "p", .limit = 10, .rate = {.interval = "1s", .amount = 1}});
  KeyedLimiter k = f->Create("k");
  EXPECT_EQ(k.Consume(8)->remaining, 2);
  EXPECT_EQ(k.Peek()->remaining, 2);
  EXPECT_FALSE(k.Peek(3)->allowed);
  EXPECT_EQ(k.Peek(3)->retry_after, seconds(1));
  EXPECT_EQ(k.Refund(5)->remaining, 7);
  EXPECT_TRUE(k.Reset().ok());
  EXPECT_EQ(k.Peek()->remaining, 10);
  EXPECT_EQ(k.Consume(11).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RateLimiterTest, AcquireWaitsOnTheClock) {
  auto f = Factory({.policy = "token_bucket", .id = "w", .limit = 2, .rate = {.interval = "1s", .amount = 1}});
  KeyedLimiter k = f->Create("k");
  ASSERT_TRUE(k.Consume(2)->allowed);
  // Too long a wait: denied at once, nothing slept.
  Result<Decision> impatient = k.Acquire(2, milliseconds(1500));
  ASSERT_TRUE(impatient.ok());
  EXPECT_FALSE(impatient->allowed);
  EXPECT_EQ(impatient->retry_after, seconds(2));
  // A patient caller sleeps on the simulated clock until the token is back.
  Result<Decision> got = InvalidArgumentError("unset");
  std::thread waiter([&] { got = k.Acquire(1, seconds(5)); });
  while (clock_.sleepers() == 0) std::this_thread::yield();
  clock_.Advance(seconds(1));
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->allowed);
}

TEST_F(RateLimiterTest, TryAcquireAllChargesAllOrNothing) {
  auto second = *RateLimiter::Create({.store = store_, .policy = Policy::TokenBucket(2, 2, seconds(1)), .name = "sec"});
  auto day = *RateLimiter::Create({.store = store_, .policy = Policy::FixedWindow(3, std::chrono::hours(24)),
                                   .name = "day"});
  RateLimiter* both[] = {second.get(), day.get()};
  EXPECT_TRUE(TryAcquireAll(both, "org-1")->allowed);
  EXPECT_TRUE(TryAcquireAll(both, "org-1")->allowed);
  EXPECT_FALSE(TryAcquireAll(both, "org-1")->allowed);
  EXPECT_EQ(day->Peek("org-1")->remaining, 1);  // the denied call charged nothing
  clock_.Advance(seconds(1));
  EXPECT_TRUE(TryAcquireAll(both, "org-1")->allowed);
  Result<MultiDecision> denied = TryAcquireAll(both, "org-1");
  EXPECT_FALSE(denied->allowed);
  EXPECT_FALSE(denied->decisions[1].allowed);
  EXPECT_EQ(second->Peek("org-1")->remaining, 1);
}

TEST_F(RateLimiterTest, AcquireOnADenialWithoutAWaitEndsWithinMaxWait) {
  auto no_wait = std::make_shared<NoWaitDenyingStore>(store_, 1000);
  auto limiter = *RateLimiter::Create({.store = no_wait, .policy = Policy::FixedWindow(1, std::chrono::hours(1))});
  ASSERT_TRUE(limiter->TryAcquire("k")->allowed);
  // max_wait 0: one decision, denied at once.
  Result<Decision> now_or_never = limiter->Acquire("k", 1, std::chrono::nanoseconds(0));
  ASSERT_TRUE(now_or_never.ok()) << now_or_never.status().ToString();
  EXPECT_FALSE(now_or_never->allowed);
  EXPECT_EQ(no_wait->calls(), 2);
  // A denial without a wait is retried after a minimum step of the store's
  // clock, and the steps count against max_wait.
  std::future<Result<Decision>> waited =
      std::async(std::launch::async, [&] { return limiter->Acquire("k", 1, milliseconds(10)); });
  const auto ready = [&] { return waited.wait_for(std::chrono::nanoseconds(0)) == std::future_status::ready; };
  // Waits (at most about 10 s of real time) until `done` or the call returned.
  const auto wait_until = [&](const auto& done) {
    for (int i = 0; i < 10'000 && !done() && waited.wait_for(milliseconds(1)) != std::future_status::ready; ++i) {
    }
  };
  for (int step = 0; step < 100 && !ready(); ++step) {
    wait_until([&] { return clock_.sleepers() == 1; });
    if (ready()) break;
    const int before = no_wait->calls();
    clock_.Advance(milliseconds(1));
    wait_until([&] { return no_wait->calls() > before; });
  }
  ASSERT_EQ(waited.wait_for(seconds(10)), std::future_status::ready) << "Acquire did not return";
  Result<Decision> got = waited.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->allowed);
  EXPECT_LE(no_wait->calls(), 2 + 11);
  EXPECT_GE(no_wait->calls(), 2 + 10);
}

TEST_F(RateLimiterTest, TryAcquireAllNeverDeniesForAShadowLimiter) {
  auto enforced = *RateLimiter::Create({.store = store_, .policy = Policy::FixedWindow(3, seconds(10)),
                                        .name = "enforced"});
  auto shadow = *RateLimiter::Create({.store = store_, .policy = Policy::FixedWindow(1, seconds(10)),
                                      .name = "shadow", .shadow_mode = true});
  RateLimiter* both[] = {enforced.get(), shadow.get()};
  // The shadow limiter admits and is charged like any other.
  Result<MultiDecision> first = TryAcquireAll(both, "u");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->allowed);
  EXPECT_FALSE(first->decisions[1].shadow_denied);
  EXPECT_EQ(shadow->Peek("u")->remaining, 0);
  // Over the shadow limit: admitted, charged to the enforced limiter, and the
  // shadow limiter's would-be denial is reported.
  for (int i = 0; i < 2; ++i) {
    Result<MultiDecision> over = TryAcquireAll(both, "u");
    ASSERT_TRUE(over.ok()) << over.status().ToString();
    EXPECT_TRUE(over->allowed) << i;
    ASSERT_EQ(over->decisions.size(), 2u);
    EXPECT_TRUE(over->decisions[0].allowed);
    EXPECT_FALSE(over->decisions[0].shadow_denied);
    EXPECT_TRUE(over->decisions[1].allowed);
    EXPECT_TRUE(over->decisions[1].shadow_denied);
    EXPECT_EQ(over->decisions[1].retry_after.count(), 0);
    EXPECT_TRUE(over->Combined().allowed);
    EXPECT_TRUE(over->Combined().shadow_denied);
  }
  EXPECT_EQ(enforced->Peek("u")->remaining, 0);
  // The enforced limiter still denies, and then nothing is charged.
  Result<MultiDecision> denied = TryAcquireAll(both, "u");
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_FALSE(denied->decisions[0].allowed);
  EXPECT_TRUE(denied->decisions[1].allowed);
  EXPECT_TRUE(denied->decisions[1].shadow_denied);
  // Only shadow limiters: never denied.
  auto other_shadow = *RateLimiter::Create({.store = store_, .policy = Policy::FixedWindow(1, seconds(10)),
                                            .name = "shadow2", .shadow_mode = true});
  RateLimiter* shadows[] = {shadow.get(), other_shadow.get()};
  Result<MultiDecision> only = TryAcquireAll(shadows, "v");
  ASSERT_TRUE(only.ok());
  EXPECT_TRUE(only->allowed);
  EXPECT_FALSE(only->Combined().shadow_denied);
  only = TryAcquireAll(shadows, "v");
  ASSERT_TRUE(only.ok());
  EXPECT_TRUE(only->allowed);
  EXPECT_TRUE(only->decisions[0].shadow_denied);
  EXPECT_TRUE(only->decisions[1].shadow_denied);
  // A shadow limiter that admits is charged when the enforced one admits too.
  clock_.Advance(seconds(10));
  RateLimiter* mixed[] = {shadow.get(), enforced.get(), other_shadow.get()};
  ASSERT_TRUE(other_shadow->TryAcquire("w")->allowed);
  Result<MultiDecision> m = TryAcquireAll(mixed, "w");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->allowed);
  EXPECT_FALSE(m->decisions[0].shadow_denied);
  EXPECT_TRUE(m->decisions[2].shadow_denied);
  EXPECT_EQ(shadow->Peek("w")->remaining, 0);
  EXPECT_EQ(enforced->Peek("w")->remaining, 2);
}

}  // namespace
}  // namespace sluice
