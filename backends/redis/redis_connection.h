// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Redis wire layer under RedisStore: an I/O thread, one pipelined
// connection, and RESP replies as plain values. hiredis is used only as the
// RESP encoder (redisFormatCommandArgv) and parser (redisReader); the socket
// and its event loop are Asio's, so TCP and Unix sockets, pipelining and
// batching live in one place.
//
// Pipelining: every command sent on a connection is written as soon as the
// previous write finished, together with everything queued meanwhile (so
// concurrent callers share system calls and round trips), and replies are
// matched to callers in order.
//
// Errors: a command that fails because the connection failed reports
//   kUnavailable       when it was never written (safe to retry);
//   kDeadlineExceeded  when it was written and no reply came (the outcome is
//                      unknown: the server may have run it).
// A Redis error reply ("-ERR ...", "-NOSCRIPT ...") is not a Status error: it
// arrives as a Reply of type kError, because callers act on its text.
//
// Thread-safety: Connection and IoThread are safe for concurrent use.
// Callbacks run on the I/O thread and must not block.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis/asio.h"
#include "sluice/result.h"

namespace sluice::redis {

// A decoded RESP2 reply.
struct Reply {
  enum class Type : uint8_t { kNil, kStatus, kError, kInteger, kString, kArray };
  Type type = Type::kNil;
  std::string str;              // kStatus, kError, kString
  int64_t integer = 0;          // kInteger
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  // True for an error reply whose text starts with `prefix` ("NOSCRIPT", "MOVED").
  bool IsErrorWithPrefix(std::string_view prefix) const;
  // Debug form: "PONG", "(error) ERR ...", "(integer) 3", "[a, b]".
  std::string ToString() const;
};

// Where a Redis server listens.
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string unix_socket;  // when set, host and port are not used

  // "redis://host[:port]", "unix:///path/redis.sock" or "redis+unix:///path".
  // kInvalidArgument for anything else.
  static Result<Endpoint> Parse(std::string_view uri);
  std::string ToString() const;
};

// One thread running an io_context. The destructor stops it and joins.
class IoThread {
 public:
  IoThread();
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& context() { return context_; }

 private:
  boost::asio::io_context context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

using ReplyCallback = std::function<void(Result<Reply>)>;

class Connection;

// What ConnectAsync hands over: the open connection and the reply to its
// handshake command, with the handshake's round-trip time (steady clock).
struct Connected {
  std::shared_ptr<Connection> connection;
  Reply handshake;
  std::chrono::nanoseconds round_trip{0};
};
using ConnectCallback = std::function<void(Result<Connected>)>;

class Connection {
 public:
  // Connects within `timeout`. kUnavailable if the server cannot be reached
  // (with the endpoint and the system's reason), kDeadlineExceeded on timeout.
  static Result<std::shared_ptr<Connection>> Connect(IoThread& io, const Endpoint& endpoint,
                                                     std::chrono::milliseconds timeout);
  // Connects without blocking, then sends `handshake` (PING, TIME) and waits
  // for its reply: a server that accepts connections but does not answer
  // (hung, or a network that drops packets) is not a working connection.
  // Both steps together take at most `timeout`. `done` runs once, on the I/O
  // thread, with the connection, or with kUnavailable (the endpoint and why:
  // refused, timed out during the connect or the handshake) after which
  // nothing is left open. An error reply to the handshake still counts as an
  // answer. REQUIRES: `handshake` is not empty.
  static void ConnectAsync(IoThread& io, const Endpoint& endpoint, std::chrono::milliseconds timeout,
                           std::vector<std::string> handshake, ConnectCallback done);
  ~Connection();

  // Queues a command (arguments are binary-safe) and calls `done` with its reply.
  void Send(const std::vector<std::string>& args, ReplyCallback done);

  // As Send, preceded by ASKING in the same write, with nothing from other
  // callers in between (Redis Cluster's ASK redirection applies ASKING to the
  // next command on the connection only). `done` gets the command's reply.
  void SendAsking(const std::vector<std::string>& args, ReplyCallback done);

  // Sends a command and waits for its reply. Must not be called on the I/O thread.
  Result<Reply> Call(std::vector<std::string> args);

  // As Call, but gives up after `timeout` with kDeadlineExceeded (the command
  // may still run on the server; its reply is then discarded).
  Result<Reply> Call(std::vector<std::string> args, std::chrono::milliseconds timeout);

  // False once the connection failed or was closed; it does not reconnect.
  bool connected() const;

  // Closes the socket; commands still pending fail as described above.
  void Close();

  const Endpoint& endpoint() const { return endpoint_; }

  // The socket's state; shared with the I/O handlers in flight.
  struct Impl;

 private:
  Connection(Endpoint endpoint, std::shared_ptr<Impl> impl);
  Endpoint endpoint_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::redis
