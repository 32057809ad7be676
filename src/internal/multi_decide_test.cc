// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "internal/multi_decide.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "internal/expiry.h"
#include "sluice/memory_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::internal {
namespace {

using std::chrono::seconds;

// States in a map, as a store would keep them; Store() writes at once (the
// test checks that nothing reaches it on a denial).
class MapAccess : public StateAccess {
 public:
  MapAccess(std::map<std::string, LimiterState>& states, std::span<const DecideRequest> requests)
      : states_(states), requests_(requests) {}

  Result<std::optional<LimiterState>> Load(size_t index) override {
    ++loads;
    auto it = states_.find(std::string(requests_[index].key));
    if (it == states_.end()) return std::optional<LimiterState>();
    return std::optional<LimiterState>(it->second);
  }

  Status Store(size_t index, LimiterState state, const Evaluation& eval) override {
    ++stores;
    if (fail_store) return UnavailableError("disk gone");
    const std::string key(requests_[index].key);
    if (IsFreshAt(eval.expires_at_ns, now)) {
      states_.erase(key);
    } else {
      states_[key] = std::move(state);
    }
    return Status::Ok();
  }

  int loads = 0, stores = 0;
  bool fail_store = false;
  int64_t now = 0;

 private:
  std::map<std::string, LimiterState>& states_;
  std::span<const DecideRequest> requests_;
};

constexpr int64_t kNow = 1'700'000'000'000'000'000;

TEST(MultiDecideTest, AllOrNothing) {
  std::map<std::string, LimiterState> states;
  const Policy sec = Policy::TokenBucket(2, 2, seconds(1));
  const Policy day = Policy::FixedWindow(5, std::chrono::hours(24));
  const DecideRequest both[] = {{"u:sec", &sec, 1, Operation::kConsume},
                                {"u:day", &day, 1, Operation::kConsume}};
  for (int i = 0; i < 2; ++i) {
    MapAccess access(states, both);
    access.now = kNow;
    Result<MultiDecision> m = DecideAllTwoPhase(both, kNow, access);
    ASSERT_TRUE(m.ok());
    EXPECT_TRUE(m->allowed);
    EXPECT_EQ(m->decisions[0].remaining, 1 - i);
    EXPECT_EQ(m->decisions[1].remaining, 4 - i);
    EXPECT_EQ(access.stores, 2);
  }
  MapAccess access(states, both);
  access.now = kNow;
  const auto before = states;
  Result<MultiDecision> m = DecideAllTwoPhase(both, kNow, access);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->allowed);
  EXPECT_FALSE(m->decisions[0].allowed);
  EXPECT_GT(m->decisions[0].retry_after.count(), 0);
  // The day alone would admit, and reports what the consume would leave.
  EXPECT_TRUE(m->decisions[1].allowed);
  EXPECT_EQ(m->decisions[1].remaining, 2);
  EXPECT_EQ(access.stores, 0);
  EXPECT_EQ(states, before);
}

TEST(MultiDecideTest, StoreErrorsPropagate) {
  std::map<std::string, LimiterState> states;
  const Policy p = Policy::TokenBucket(2, 2, seconds(1));
  const DecideRequest one[] = {{"k", &p, 1, Operation::kConsume}};
  MapAccess access(states, one);
  access.fail_store = true;
  EXPECT_EQ(DecideAllTwoPhase(one, kNow, access).status().code(), StatusCode::kUnavailable);
}

TEST(MultiDecideTest, ValidatesRequests) {
  const Policy p = Policy::TokenBucket(2, 2, seconds(1));
  const Policy bad = Policy::TokenBucket(0, 2, seconds(1));
  const DecideRequest dup[] = {
      {"a", &p, 1, Operation::kConsume}, {"b", &p, 1, Operation::kConsume}, {"a", &p, 1, Operation::kPeek}};
  Status s = ValidateDecideAll(dup);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"a\" appears twice"), std::string_view::npos) << s.ToString();
  const DecideRequest no_policy[] = {{"a", nullptr, 1, Operation::kConsume}};
  EXPECT_EQ(ValidateDecideAll(no_policy).code(), StatusCode::kInvalidArgument);
  const DecideRequest invalid[] = {{"a", &bad, 1, Operation::kConsume}};
  EXPECT_EQ(ValidateDecideAll(invalid).code(), StatusCode::kInvalidArgument);
  const DecideRequest too_much[] = {{"a", &p, 3, Operation::kConsume}};
  EXPECT_EQ(ValidateDecideAll(too_much).code(), StatusCode::kInvalidArgument);
  const std::string long_key(kMaxKeyBytes + 1, 'k');
  const DecideRequest long_one[] = {{long_key, &p, 1, Operation::kConsume}};
  EXPECT_EQ(ValidateDecideAll(long_one).code(), StatusCode::kInvalidArgument);
  const DecideRequest fine[] = {{"a", &p, 2, Operation::kConsume}, {"b", &p, 5, Operation::kRefund}};
  EXPECT_TRUE(ValidateDecideAll(fine).ok());
}

// Over random multi-limit sequences with every operation, the shared code
// decides exactly as the memory store's DecideAll.
TEST(MultiDecideTest, AgreesWithTheMemoryStore) {
  testing::SimulatedClock clock(kNow);
  auto store = MemoryStore::Create({.clock = &clock});
  ASSERT_TRUE(store.ok());
  const std::vector<Policy> policies = {Policy::TokenBucket(5, 2, seconds(1)), Policy::Gcra(4, 3, seconds(2)),
                                        Policy::FixedWindow(6, seconds(10)),
                                        Policy::SlidingWindowLog(5, seconds(3)),
                                        Policy::SlidingWindowCounter(7, seconds(5))};
  const std::vector<std::string> keys = {"k0", "k1", "k2", "k3", "k4", "k5"};
  std::map<std::string, LimiterState> states;
  std::mt19937_64 rng(11);
  int allowed = 0, denied = 0;
  for (int round = 0; round < 2000; ++round) {
    clock.Advance(std::chrono::milliseconds(rng() % 300));
    std::vector<size_t> pick = {0, 1, 2, 3, 4, 5};
    std::shuffle(pick.begin(), pick.end(), rng);
    pick.resize(1 + rng() % 3);
    std::vector<DecideRequest> reqs;
    for (size_t k : pick) {
      const Policy& p = policies[k % policies.size()];
      const uint64_t o = rng() % 10;
      const Operation op = o == 0   ? Operation::kRefund
                           : o == 1 ? Operation::kPeek
                           : o == 2 ? Operation::kReset
                                    : Operation::kConsume;
      reqs.push_back({keys[k], &p, static_cast<int64_t>(rng() % 3), op});
    }
    MapAccess access(states, reqs);
    access.now = clock.NowNanos();
    ASSERT_TRUE(ValidateDecideAll(reqs).ok());
    Result<MultiDecision> got = DecideAllTwoPhase(reqs, clock.NowNanos(), access);
    Result<MultiDecision> want = (*store)->DecideAll(reqs);
    ASSERT_TRUE(got.ok() && want.ok());
    ASSERT_EQ(got->allowed, want->allowed) << "round " << round;
    ASSERT_EQ(got->decisions, want->decisions) << "round " << round;
    (got->allowed ? allowed : denied)++;
  }
  EXPECT_GT(allowed, 100);
  EXPECT_GT(denied, 100);
}

}  // namespace
}  // namespace sluice::internal
