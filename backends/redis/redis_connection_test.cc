// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Runs against the real redis-server that CTest's redis_server fixture starts
// (tests/integration/redis_server.sh) on a Unix socket.

#include "redis/redis_connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sluice::redis {
namespace {

using std::chrono::milliseconds;

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
    if (dir == nullptr) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set (run through ctest -L redis)";
    endpoint_.unix_socket = std::string(dir) + "/redis.sock";
    Result<std::shared_ptr<Connection>> c = Connection::Connect(io_, endpoint_, milliseconds(2000));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(*c);
    ASSERT_TRUE(conn_->Call({"FLUSHALL"}).ok());
  }

  IoThread io_;
  Endpoint endpoint_;
  std::shared_ptr<Connection> conn_;
};

TEST_F(RedisConnectionTest, PingAndBinarySafeValues) {
  Result<Reply> pong = conn_->Call({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->type, Reply::Type::kStatus);
  EXPECT_EQ(pong->str, "PONG");
  const std::string key("k\0{}:\r\n", 7);
  const std::string value("\0\x01\xff\r\n$3\r\n", 10);
  ASSERT_EQ(conn_->Call({"SET", key, value})->str, "OK");
  Result<Reply> got = conn_->Call({"GET", key});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->type, Reply::Type::kString);
  EXPECT_EQ(got->str, value);
  EXPECT_EQ(conn_->Call({"GET", "missing"})->type, Reply::Type::kNil);
}

TEST_F(RedisConnectionTest, ErrorRepliesAreValuesNotStatuses) {
  ASSERT_TRUE(conn_->Call({"SET", "s", "x"}).ok());
  Result<Reply> wrong = conn_->Call({"HGET", "s", "f"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(wrong->IsErrorWithPrefix("WRONGTYPE")) << wrong->ToString();
  Result<Reply> noscript = conn_->Call({"EVALSHA", std::string(40, 'a'), "0"});
  ASSERT_TRUE(noscript.ok());
  EXPECT_TRUE(noscript->IsErrorWithPrefix("NOSCRIPT")) << noscript->ToString();
  // The connection is still usable after error replies.
  EXPECT_EQ(conn_->Call({"PING"})->str, "PONG");
}

TEST_F(RedisConnectionTest, LuaArraysAndIntegers) {
  Result<Reply> r = conn_->Call({"EVAL", "return {1, 'two', {3}, redis.call('TIME')}", "0"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->type, Reply::Type::kArray);
  ASSERT_EQ(r->elements.size(), 4u);
  EXPECT_EQ(r->elements[0].integer, 1);
  EXPECT_EQ(r->elements[1].str, "two");
  EXPECT_EQ(r->elements[2].elements[0].integer, 3);
  EXPECT_EQ(r->elements[3].elements.size(), 2u);  // seconds, microseconds
}

// Many threads pipeline on one connection: every reply reaches its caller, in order.
TEST_F(RedisConnectionTest, ConcurrentPipelinedCallersGetTheirOwnReplies) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::atomic<int> outstanding{kThreads * kPerThread};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        conn_->Send({"INCR", "counter"}, [&, t](Result<Reply> r) {
          // Callbacks run on the one I/O thread, so this vector needs no lock.
          if (r.ok()) seen[t].push_back(r->integer);
          outstanding.fetch_sub(1);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  while (outstanding.load() > 0) std::this_thread::yield();
  std::set<int64_t> all;
  for (const auto& v : seen) {
    ASSERT_EQ(v.size(), static_cast<size_t>(kPerThread));
    // One caller's commands keep their order, so its replies increase.
    for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
  EXPECT_EQ(conn_->Call({"GET", "counter"})->str, std::to_string(kThreads * kPerThread));
}

TEST_F(RedisConnectionTest, ClosedConnectionFailsWithoutSending) {
  conn_->Close();
  Result<Reply> r = conn_->Call({"INCR", "never"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_FALSE(conn_->connected());
  // Nothing reached the server.
  Result<std::shared_ptr<Connection>> other = Connection::Connect(io_, endpoint_, milliseconds(2000));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Call({"GET", "never"})->type, Reply::Type::kNil);
}

TEST_F(RedisConnectionTest, ServerClosingTheConnectionFailsLaterCommands) {
  Result<Reply> id = conn_->Call({"CLIENT", "ID"});
  ASSERT_TRUE(id.ok());
  // Another client kills this connection; its reply comes after the kill.
  Result<std::shared_ptr<Connection>> admin = Connection::Connect(io_, endpoint_, milliseconds(2000));
  ASSERT_TRUE(admin.ok());
  Result<Reply> killed = (*admin)->Call({"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  ASSERT_TRUE(killed.ok());
  ASSERT_EQ(killed->integer, 1) << killed->ToString();
  // Whether or not the PING is written before the close is noticed, it fails
  // with a code that says whether it may have run.
  Result<Reply> r = conn_->Call({"PING"});
  EXPECT_TRUE(r.status().code() == StatusCode::kDeadlineExceeded ||
              r.status().code() == StatusCode::kUnavailable)
      << r.status().ToString();
  EXPECT_FALSE(conn_->connected());
  EXPECT_EQ(conn_->Call({"PING"}).status().code(), StatusCode::kUnavailable);
}

// ConnectAsync on the I/O thread: the handshake's reply comes with the
// connection, which then works as any other.
TEST_F(RedisConnectionTest, ConnectAsyncHandsOverTheHandshakeReply) {
  std::promise<Result<Connected>> promise;
  Connection::ConnectAsync(io_, endpoint_, milliseconds(2000), {"ECHO", "hello"},
                           [&promise](Result<Connected> r) { promise.set_value(std::move(r)); });
  std::future<Result<Connected>> result = promise.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Result<Connected> c = result.get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->handshake.str, "hello");
  EXPECT_GT(c->round_trip.count(), 0);
  EXPECT_TRUE(c->connection->connected());
  EXPECT_EQ(c->connection->Call({"PING"})->str, "PONG");
  // Close() counts at once: nobody picks a connection on its way out.
  c->connection->Close();
  EXPECT_FALSE(c->connection->connected());
}

TEST(RedisConnect, ConnectAsyncToNothingIsUnavailable) {
  IoThread io;
  Endpoint nowhere;
  nowhere.unix_socket = "/nonexistent/sluice/redis.sock";
  std::promise<Result<Connected>> promise;
  Connection::ConnectAsync(io, nowhere, milliseconds(500), {"PING"},
                           [&promise](Result<Connected> r) { promise.set_value(std::move(r)); });
  std::future<Result<Connected>> result = promise.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get().status().code(), StatusCode::kUnavailable);
}

TEST(RedisEndpoint, Parse) {
  Result<Endpoint> e = Endpoint::Parse("redis://example.com:6380");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "example.com");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(Endpoint::Parse("redis://localhost")->port, 6379);
  EXPECT_EQ(Endpoint::Parse("unix:///tmp/r.sock")->unix_socket, "/tmp/r.sock");
  EXPECT_EQ(Endpoint::Parse("redis+unix:///tmp/r.sock")->unix_socket, "/tmp/r.sock");
  EXPECT_EQ(Endpoint::Parse("http://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Endpoint::Parse("redis://host:99999").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Endpoint::Parse("unix://relative").status().code(), StatusCode::kInvalidArgument);
}

TEST(RedisConnect, UnreachableServerIsUnavailable) {
  IoThread io;
  Endpoint nowhere;
  nowhere.unix_socket = "/nonexistent/sluice/redis.sock";
  Result<std::shared_ptr<Connection>> c = Connection::Connect(io, nowhere, milliseconds(500));
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().ToString();
}

}  // namespace
}  // namespace sluice::redis
