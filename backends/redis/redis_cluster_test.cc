// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Against the real 3-master Redis Cluster of CTest's redis_cluster fixture
// (tests/integration/redis_cluster.sh): slot routing and a slot resharded
// while callers decide on its keys. The store conformance suite runs on the
// cluster from redis_store_test.cc.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis/cluster_slot.h"
#include "redis/redis_client.h"
#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"
#include "sluice/rate_limiter.h"

namespace sluice::redis {
namespace {

using testenv::ClusterPorts;
using testenv::ClusterUri;

// Our slot function agrees with the cluster's own for random keys, binary
// bytes and hash tags included.
TEST(RedisCluster, KeySlotMatchesTheServer) {
  const std::vector<uint16_t> ports = ClusterPorts();
  if (ports.size() < 3) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  Endpoint node;
  node.port = ports[0];
  RedisClient client(node, std::chrono::milliseconds(2000));
  std::mt19937_64 rng(7);
  const std::string alphabet = std::string("ab{}:%\0\xff", 8);
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 3000; ++i) {
    std::string key;
    for (size_t n = rng() % 12; n > 0; --n) key += alphabet[rng() % alphabet.size()];
    keys.push_back(key);
    commands.push_back({"CLUSTER", "KEYSLOT", key});
  }
  std::vector<Result<Reply>> slots = client.CallMany(commands, 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(slots[i].ok()) << slots[i].status().ToString();
    ASSERT_EQ(slots[i]->integer, KeySlot(keys[i])) << "key #" << i;
  }
}

// The three masters serve all 16384 slots between them.
TEST(RedisCluster, MastersCoverEverySlot) {
  const std::vector<uint16_t> ports = ClusterPorts();
  if (ports.size() < 3) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  Endpoint node;
  node.port = ports[1];
  RedisClient client(node, std::chrono::milliseconds(2000));
  Result<Reply> ranges = client.Call({"CLUSTER", "SLOTS"});
  ASSERT_TRUE(ranges.ok() && ranges->type == Reply::Type::kArray) << ranges.status().ToString();
  int64_t covered = 0;
  for (const Reply& range : ranges->elements) {
    ASSERT_GE(range.elements.size(), 3u);
    covered += range.elements[1].integer - range.elements[0].integer + 1;
  }
  EXPECT_EQ(covered, kClusterSlots);
  EXPECT_EQ(ranges->elements.size(), 3u);
}

// RELIABILITY T20: user ids full of hash-tag and separator bytes. Every
// limit of one id lands in one slot (so DecideAll over them is one call on
// the cluster, never CROSSSLOT), distinct ids never collide, and the ids
// spread over the slots (an adversary cannot pile them onto one).
TEST(RedisCluster, AdversarialIdsKeepTheirLimitsInOneSlot) {
  if (ClusterUri().empty()) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  auto store = CreateRedisStore(
      {.uri = ClusterUri(), .key_prefix = "t20-" + std::to_string(std::random_device{}()) + ":"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::mt19937_64 rng(20);
  const std::string alphabet = std::string("{}:%\0ab", 7);
  const Policy per_second = Policy::FixedWindow(5, std::chrono::seconds(1));
  const Policy per_hour = Policy::FixedWindow(100, std::chrono::hours(1));
  std::map<std::string, std::string> seen;  // store key -> id
  std::vector<int> per_slot(kClusterSlots, 0);
  constexpr int kIds = 10000, kDecided = 1000;
  for (int i = 0; i < kIds; ++i) {
    std::string id;
    const size_t length = i % 100 == 0 ? 2000 : rng() % 24;  // escaped, within 8 KiB
    for (size_t n = 0; n < length; ++n) id += alphabet[rng() % alphabet.size()];
    id += std::to_string(i);  // distinct
    const std::string a = StoreKey("rl", "second", id), b = StoreKey("rl", "hour", id);
    ASSERT_TRUE(seen.emplace(a, id).second) << "collision";
    ASSERT_EQ(KeySlot(a), KeySlot(b));
    ++per_slot[KeySlot(a)];
    if (i < kDecided) {
      const DecideRequest both[] = {{.key = a, .policy = &per_second}, {.key = b, .policy = &per_hour}};
      Result<MultiDecision> d = (*store)->DecideAll(both);
      ASSERT_TRUE(d.ok()) << "id #" << i << ": " << d.status().ToString();
      ASSERT_TRUE(d->allowed);
    }
  }
  const int max_share = *std::max_element(per_slot.begin(), per_slot.end());
  // 10000 ids over 16384 slots: a handful at most in any slot by chance.
  EXPECT_LE(max_share, 8);
}

// A client for one node, to administer the cluster as an operator would.
struct AdminNode {
  explicit AdminNode(uint16_t node_port)
      : client(Endpoint{"127.0.0.1", node_port, ""}, std::chrono::milliseconds(2000)), port(node_port) {
    Result<Reply> id = client.Call({"CLUSTER", "MYID"});
    if (id.ok()) node_id = id->str;
  }
  Reply Run(std::vector<std::string> args) {
    Result<Reply> r = client.Call(args);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r.ok() && r->is_error()) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": "
                                         << r->ToString();
    return r.ok() ? *r : Reply{};
  }
  RedisClient client;
  uint16_t port = 0;
  std::string node_id;
};

// Moves `slot` from `from` to `to` the way redis-cli --cluster reshard does:
// IMPORTING / MIGRATING, MIGRATE of its keys a few at a time, then SETSLOT
// NODE on every master. `between_steps` runs after each batch of keys moves.
void MigrateSlot(uint16_t slot, AdminNode& from, AdminNode& to, std::vector<AdminNode*> all,
                 const std::function<void()>& between_steps) {
  const std::string s = std::to_string(slot);
  to.Run({"CLUSTER", "SETSLOT", s, "IMPORTING", from.node_id});
  from.Run({"CLUSTER", "SETSLOT", s, "MIGRATING", to.node_id});
  for (;;) {
    between_steps();
    Reply keys = from.Run({"CLUSTER", "GETKEYSINSLOT", s, "3"});
    if (keys.elements.empty()) break;
    std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(to.port), "", "0", "5000", "KEYS"};
    for (const Reply& k : keys.elements) migrate.push_back(k.str);
    from.Run(migrate);
  }
  to.Run({"CLUSTER", "SETSLOT", s, "NODE", to.node_id});
  from.Run({"CLUSTER", "SETSLOT", s, "NODE", to.node_id});
  for (AdminNode* node : all) node->Run({"CLUSTER", "SETSLOT", s, "NODE", to.node_id});
}

// How many error replies starting with `prefix` ("ASK", "MOVED") the nodes
// have sent, from INFO errorstats.
int64_t ErrorsSent(std::vector<AdminNode*> nodes, const std::string& prefix) {
  int64_t total = 0;
  for (AdminNode* node : nodes) {
    const std::string info = node->Run({"INFO", "errorstats"}).str;
    const std::string field = "errorstat_" + prefix + ":count=";
    if (const size_t at = info.find(field); at != std::string::npos) {
      total += std::stoll(info.substr(at + field.size()));
    }
  }
  return total;
}

// The owner of `slot` among `nodes`, by CLUSTER SLOTS on the first.
AdminNode* OwnerOf(uint16_t slot, std::vector<AdminNode*> nodes) {
  Reply ranges = nodes[0]->Run({"CLUSTER", "SLOTS"});
  for (const Reply& range : ranges.elements) {
    if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
      for (AdminNode* node : nodes) {
        if (node->port == range.elements[2].elements[1].integer) return node;
      }
    }
  }
  return nullptr;
}

// Callers deciding on a set of keys from several threads until stopped, each
// key with a century-long token bucket of 25: once every key was tried often
// enough, each must have admitted exactly 25, whatever happened to the
// cluster meanwhile.
class DecisionLoad {
 public:
  static constexpr int64_t kLimit = 25;

  DecisionLoad(Store& store, std::vector<std::string> keys) : store_(store), keys_(std::move(keys)), admitted_(keys_.size()) {
    for (int t = 0; t < kThreads; ++t) {
      threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~DecisionLoad() { Stop(); }

  // Waits until the callers made `n` more decisions: every cluster change of
  // a test happens with decisions running before and after it (no timing).
  void LetRun(int64_t n = 40) {
    const int64_t target = decisions_.load() + n;
    while (decisions_.load() < target && !failed_.load() && std::chrono::steady_clock::now() < give_up_) {
      std::this_thread::yield();
    }
  }

  // Runs on until every key is certainly exhausted, stops, and checks.
  void FinishAndCheck() {
    while (decisions_.load() < static_cast<int64_t>(keys_.size()) * 100 && !failed_.load() &&
           std::chrono::steady_clock::now() < give_up_) {
      LetRun();
    }
    Stop();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors_[t], "") << "caller " << t;
    for (size_t k = 0; k < keys_.size(); ++k) EXPECT_EQ(admitted_[k].load(), kLimit) << keys_[k];
  }

 private:
  static constexpr int kThreads = 8;

  void Run(int t) {
    const Policy policy = Policy::TokenBucket(kLimit, 1, std::chrono::hours(24 * 365 * 100));
    std::mt19937 rng(static_cast<unsigned>(t));
    while (!stop_.load()) {
      const size_t k = rng() % keys_.size();
      Result<Decision> d = store_.Decide({.key = keys_[k], .policy = &policy});
      if (!d.ok()) {
        errors_[t] = d.status().ToString();
        failed_ = true;
        return;
      }
      if (d->allowed) admitted_[k].fetch_add(1);
      decisions_.fetch_add(1);
    }
  }

  void Stop() {
    stop_ = true;
    for (auto& th : threads_) {
      if (th.joinable()) th.join();
    }
  }

  Store& store_;
  const std::vector<std::string> keys_;
  std::vector<std::atomic<int64_t>> admitted_;
  std::atomic<int64_t> decisions_{0};
  std::atomic<bool> stop_{false}, failed_{false};
  std::string errors_[kThreads];
  std::vector<std::thread> threads_;
  const std::chrono::steady_clock::time_point give_up_ = std::chrono::steady_clock::now() + std::chrono::seconds(60);
};

// The cluster's nodes, and its masters among them.
struct ClusterAdmin {
  ClusterAdmin() {
    for (uint16_t p : ClusterPorts()) {
      nodes.push_back(std::make_unique<AdminNode>(p));
      if (nodes.back()->Run({"ROLE"}).elements.at(0).str == "master") masters.push_back(nodes.back().get());
    }
  }
  AdminNode* ByPort(int64_t port) {
    for (auto& n : nodes) {
      if (n->port == port) return n.get();
    }
    return nullptr;
  }
  std::vector<std::unique_ptr<AdminNode>> nodes;
  std::vector<AdminNode*> masters;
};

// Half the keys share one slot (hash tag `tag`); the others are spread over
// the cluster.
std::vector<std::string> LoadKeys(const std::string& tag) {
  std::vector<std::string> keys;
  for (int i = 0; i < 24; ++i) keys.push_back("{" + tag + "}" + std::to_string(i));
  for (int i = 0; i < 24; ++i) keys.push_back("spread" + std::to_string(i));
  return keys;
}

// Callers keep deciding while a slot holding their keys moves to another
// master and back. No caller sees an error, and the limits stay exact.
TEST(RedisCluster, ReshardingUnderLoadIsInvisibleToCallers) {
  if (ClusterPorts().size() < 3) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  ClusterAdmin admin;
  std::vector<AdminNode*>& masters = admin.masters;
  // A fresh prefix per run: the keys live for a century.
  const std::string prefix = "reshard" + std::to_string(std::random_device{}()) + ":";
  auto store = CreateRedisStore({.uri = ClusterUri(), .key_prefix = prefix});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const uint16_t slot = KeySlot(prefix + "{moving}0");
  const int64_t asks_before = ErrorsSent(masters, "ASK"), moved_before = ErrorsSent(masters, "MOVED");
  DecisionLoad load(**store, LoadKeys("moving"));
  AdminNode* origin = OwnerOf(slot, masters);
  ASSERT_NE(origin, nullptr);
  AdminNode* target = masters[0] == origin ? masters[1] : masters[0];
  MigrateSlot(slot, *origin, *target, masters, [&] { load.LetRun(); });
  EXPECT_EQ(OwnerOf(slot, masters), target);
  load.LetRun();
  MigrateSlot(slot, *target, *origin, masters, [&] { load.LetRun(); });
  EXPECT_EQ(OwnerOf(slot, masters), origin);
  load.FinishAndCheck();
  EXPECT_GT(origin->Run({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}).integer, 0);
  // The callers were redirected both ways (so the test covered them).
  EXPECT_GT(ErrorsSent(masters, "ASK"), asks_before);
  EXPECT_GT(ErrorsSent(masters, "MOVED"), moved_before);
}

// Waits until `node` reports `role` (polling between decisions; the
// deadline only keeps a broken cluster from hanging the test).
void AwaitRole(AdminNode& node, const std::string& role, DecisionLoad& load) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (node.Run({"ROLE"}).elements.at(0).str != role && std::chrono::steady_clock::now() < deadline) {
    load.LetRun(1);
  }
  EXPECT_EQ(node.Run({"ROLE"}).elements.at(0).str, role) << "node " << node.port;
}

// Waits until `replica` is in sync with `master` and `master` itself knows
// it as its replica (the cluster bus may lag the replication link), which a
// manual failover needs.
void AwaitReplicaOf(AdminNode& replica, AdminNode& master, DecisionLoad& load) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto ready = [&] {
    if (replica.Run({"ROLE"}).elements.at(3).str != "connected") return false;
    const std::string nodes = master.Run({"CLUSTER", "NODES"}).str;
    const size_t line = nodes.find(replica.node_id + " ");
    if (line == std::string::npos) return false;
    const std::string entry = nodes.substr(line, nodes.find('\n', line) - line);
    return entry.find(" slave " + master.node_id + " ") != std::string::npos &&
           entry.find(" connected") != std::string::npos;
  };
  while (!ready() && std::chrono::steady_clock::now() < deadline) load.LetRun(1);
}

// A replica takes over from its master (CLUSTER FAILOVER, as for
// maintenance) while callers decide. The store follows
// the new topology (MOVED from the demoted master, a fresh slot map) with no
// error to any caller, and since a manual failover loses no acknowledged
// write, the limits stay exact.
TEST(RedisCluster, ManualFailoverUnderLoadIsInvisibleToCallers) {
  if (ClusterPorts().size() < 6) GTEST_SKIP() << "needs the redis_cluster fixture with replicas (ctest -L redis)";
  ClusterAdmin admin;
  const std::string prefix = "failover" + std::to_string(std::random_device{}()) + ":";
  auto store = CreateRedisStore({.uri = ClusterUri(), .key_prefix = prefix});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  AdminNode* master = OwnerOf(KeySlot(prefix + "{failing}0"), admin.masters);
  ASSERT_NE(master, nullptr);
  AdminNode* replica = nullptr;
  for (auto& n : admin.nodes) {
    Reply role = n->Run({"ROLE"});
    if (role.elements.at(0).str == "slave" && role.elements.at(2).integer == master->port) replica = n.get();
  }
  ASSERT_NE(replica, nullptr) << "no replica of " << master->port;
  DecisionLoad load(**store, LoadKeys("failing"));
  AwaitReplicaOf(*replica, *master, load);
  load.LetRun();
  replica->Run({"CLUSTER", "FAILOVER"});
  AwaitRole(*replica, "master", load);
  AwaitRole(*master, "slave", load);
  load.FinishAndCheck();
  // The roles stay swapped: the other tests find the masters by ROLE. (A
  // second failover of the same shard within 2 x cluster-node-timeout would
  // not get the masters' votes.)
}

}  // namespace
}  // namespace sluice::redis
