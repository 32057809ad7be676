// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/redis_connection.h"

#include <hiredis/hiredis.h>

#include <atomic>
#include <charconv>
#include <deque>
#include <future>
#include <mutex>

namespace sluice::redis {
namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;

// ---- Reply ------------------------------------------------------------------

bool Reply::IsErrorWithPrefix(std::string_view prefix) const {
  return type == Type::kError && std::string_view(str).substr(0, prefix.size()) == prefix;
}

std::string Reply::ToString() const {
  switch (type) {
    case Type::kNil:
      return "(nil)";
    case Type::kStatus:
      return str;
    case Type::kError:
      return "(error) " + str;
    case Type::kInteger:
      return "(integer) " + std::to_string(integer);
    case Type::kString:
      return "\"" + str + "\"";
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements.size(); ++i) out += (i ? ", " : "") + elements[i].ToString();
      return out + "]";
    }
  }
  return "?";
}

namespace {

Reply FromHiredis(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(FromHiredis(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

// RESP encoding of one command, by hiredis.
std::string Format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out;
  if (n > 0) out.assign(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

}  // namespace

// ---- Endpoint -------------------------------------------------------------------

Result<Endpoint> Endpoint::Parse(std::string_view uri) {
  Endpoint e;
  for (std::string_view scheme : {"unix://", "redis+unix://"}) {
    if (uri.substr(0, scheme.size()) == scheme) {
      e.unix_socket = std::string(uri.substr(scheme.size()));
      if (e.unix_socket.empty() || e.unix_socket[0] != '/') {
        return InvalidArgumentError("redis endpoint \"" + std::string(uri) +
                                    "\": expected an absolute socket path");
      }
      return e;
    }
  }
  constexpr std::string_view kRedis = "redis://";
  if (uri.substr(0, kRedis.size()) != kRedis) {
    return InvalidArgumentError("redis endpoint \"" + std::string(uri) +
                                "\": expected redis://host[:port] or unix:///path");
  }
  std::string_view rest = uri.substr(kRedis.size());
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    const std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgumentError("redis endpoint \"" + std::string(uri) + "\": bad port \"" +
                                  std::string(port) + "\"");
    }
    e.port = static_cast<uint16_t>(value);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return InvalidArgumentError("redis endpoint \"" + std::string(uri) + "\": missing host");
  e.host = std::string(rest);
  return e;
}

std::string Endpoint::ToString() const {
  return unix_socket.empty() ? "redis://" + host + ":" + std::to_string(port) : "unix://" + unix_socket;
}

// ---- IoThread ---------------------------------------------------------------------

IoThread::IoThread() : work_(asio::make_work_guard(context_)), thread_([this] { context_.run(); }) {}

IoThread::~IoThread() {
  work_.reset();
  context_.stop();
  thread_.join();
}

// ---- Connection -------------------------------------------------------------------

struct Connection::Impl : std::enable_shared_from_this<Connection::Impl> {
  explicit Impl(asio::io_context& context) : socket(context), reader(redisReaderCreate()) {}
  ~Impl() { redisReaderFree(reader); }

  // All members below are touched only on the I/O thread, except `open`.
  Socket socket;
  redisReader* reader;
  std::atomic<bool> open{false};
  // Set by Close() at once, before the close itself runs on the I/O thread,
  // so that no caller picks a connection that is about to close.
  std::atomic<bool> closing{false};
  std::deque<ReplyCallback> pending;  // in send order
  // How many of `pending` were handed to the socket. A reply may arrive before
  // the write's completion handler runs, and a command being written may have
  // reached the server, so these count as sent from the start of their write.
  size_t sent = 0;
  std::string outbox;  // encoded commands not yet being written
  size_t outbox_commands = 0;
  std::string writing;  // the buffer of the write in flight
  bool write_in_flight = false;
  std::array<char, 16384> read_buffer{};

  void Enqueue(std::string encoded, ReplyCallback done) {
    if (!open.load() || closing.load()) {
      done(UnavailableError("redis connection is closed; the command was not sent"));
      return;
    }
    outbox += encoded;
    ++outbox_commands;
    pending.push_back(std::move(done));
    if (!write_in_flight) StartWrite();
  }

  void StartWrite() {
    writing.swap(outbox);
    outbox.clear();
    sent += outbox_commands;
    outbox_commands = 0;
    write_in_flight = true;
    asio::async_write(socket, asio::buffer(writing),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->write_in_flight = false;
                        if (ec) return self->Fail("write failed: " + ec.message());
                        if (!self->outbox.empty()) self->StartWrite();
                      });
  }

  void StartRead() {
    socket.async_read_some(asio::buffer(read_buffer),
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             if (ec)
                               return self->Fail(ec == asio::error::eof ? "server closed the connection"
                                                                        : "read failed: " + ec.message());
                             if (redisReaderFeed(self->reader, self->read_buffer.data(), n) != REDIS_OK) {
                               return self->Fail("cannot buffer the reply");
                             }
                             for (;;) {
                               void* raw = nullptr;
                               if (redisReaderGetReply(self->reader, &raw) != REDIS_OK) {
                                 return self->Fail(std::string("protocol error: ") + self->reader->errstr);
                               }
                               if (raw == nullptr) break;
                               Reply reply = FromHiredis(static_cast<redisReply*>(raw));
                               freeReplyObject(raw);
                               if (self->pending.empty() || self->sent == 0)
                                 return self->Fail("reply without a pending command");
                               ReplyCallback done = std::move(self->pending.front());
                               self->pending.pop_front();
                               --self->sent;
                               done(std::move(reply));
                             }
                             self->StartRead();
                           });
  }

  // Fails every pending command by whether it reached the server.
  void Fail(const std::string& why) {
    if (open.exchange(false)) {
      boost::system::error_code ignored;
      socket.close(ignored);
    }
    std::deque<ReplyCallback> callbacks;
    callbacks.swap(pending);
    size_t reached = sent;
    sent = 0;
    outbox.clear();
    outbox_commands = 0;
    for (ReplyCallback& done : callbacks) {
      if (reached > 0) {
        --reached;
        done(DeadlineExceededError("redis connection lost after the command was sent (" + why +
                                   "); the outcome is unknown"));
      } else {
        done(UnavailableError("redis connection failed before the command was sent (" + why + ")"));
      }
    }
  }
};

Connection::Connection(Endpoint endpoint, std::shared_ptr<Impl> impl)
    : endpoint_(std::move(endpoint)), impl_(std::move(impl)) {}

Connection::~Connection() { Close(); }

Result<std::shared_ptr<Connection>> Connection::Connect(IoThread& io, const Endpoint& endpoint,
                                                        std::chrono::milliseconds timeout) {
  auto impl = std::make_shared<Impl>(io.context());
  std::vector<asio::generic::stream_protocol::endpoint> targets;
  if (!endpoint.unix_socket.empty()) {
    targets.emplace_back(asio::local::stream_protocol::endpoint(endpoint.unix_socket));
  } else {
    asio::ip::tcp::resolver resolver(io.context());
    boost::system::error_code ec;
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) return UnavailableError("redis " + endpoint.ToString() + ": cannot resolve: " + ec.message());
    for (const auto& r : results) targets.emplace_back(r.endpoint());
  }
  if (targets.empty()) return UnavailableError("redis " + endpoint.ToString() + ": no address");

  // Connect on the I/O thread; a timer closes the socket if it takes too long.
  auto promise = std::make_shared<std::promise<boost::system::error_code>>();
  std::future<boost::system::error_code> connected = promise->get_future();
  auto timer = std::make_shared<asio::steady_timer>(io.context(), timeout);
  asio::post(io.context(), [impl, targets, timer, promise] {
    timer->async_wait([impl](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        impl->socket.close(ignored);
      }
    });
    asio::async_connect(impl->socket, targets, [timer, promise](boost::system::error_code ec, const auto&) {
      timer->cancel();
      promise->set_value(ec);
    });
  });
  const boost::system::error_code ec = connected.get();
  if (ec) {
    if (ec == asio::error::operation_aborted) {
      return DeadlineExceededError("redis " + endpoint.ToString() + ": connect timed out after " +
                                   std::to_string(timeout.count()) + "ms");
    }
    return UnavailableError("redis " + endpoint.ToString() + ": cannot connect: " + ec.message());
  }
  std::promise<void> started;
  asio::post(io.context(), [impl, &started] {
    if (impl->socket.local_endpoint().protocol().family() != AF_UNIX) {
      boost::system::error_code ignored;
      impl->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    impl->open.store(true);
    impl->StartRead();
    started.set_value();
  });
  started.get_future().wait();
  return std::shared_ptr<Connection>(new Connection(endpoint, std::move(impl)));
}

namespace {

// One ConnectAsync in progress; lives until its callback ran.
struct ConnectAttempt {
  ConnectAttempt(asio::io_context& context, Endpoint e, std::chrono::milliseconds t, ConnectCallback d)
      : endpoint(std::move(e)), timeout(t), timer(context), resolver(context), done(std::move(d)) {}
  Endpoint endpoint;
  std::chrono::milliseconds timeout;
  asio::steady_timer timer;
  asio::ip::tcp::resolver resolver;
  ConnectCallback done;  // empty once called
  bool timed_out = false;

  void Finish(Result<Connected> r) {
    if (!done) return;
    timer.cancel();
    ConnectCallback callback = std::move(done);
    done = nullptr;
    callback(std::move(r));
  }
  Status Error(const std::string& why) const {
    return UnavailableError("redis " + endpoint.ToString() + ": " + why);
  }
};

}  // namespace

void Connection::ConnectAsync(IoThread& io, const Endpoint& endpoint, std::chrono::milliseconds timeout,
                              std::vector<std::string> handshake, ConnectCallback done) {
  auto impl = std::make_shared<Impl>(io.context());
  auto attempt = std::make_shared<ConnectAttempt>(io.context(), endpoint, timeout, std::move(done));
  std::string encoded = Format(handshake);
  // Everything below runs on the I/O thread.
  auto handshake_step = [impl, attempt, encoded = std::move(encoded)]() mutable {
    if (impl->socket.local_endpoint().protocol().family() != AF_UNIX) {
      boost::system::error_code ignored;
      impl->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    impl->open.store(true);
    impl->StartRead();
    const auto sent = std::chrono::steady_clock::now();
    // The callback waits in impl's own queue, so it holds impl weakly: a
    // strong reference would keep the socket open for ever if the I/O
    // thread stopped before the reply or the failure came.
    std::weak_ptr<Impl> weak = impl;
    impl->Enqueue(std::move(encoded), [weak, attempt, sent](Result<Reply> r) {
      std::shared_ptr<Impl> alive = weak.lock();
      if (r.ok() && alive == nullptr) r = UnavailableError("the connection went away");
      if (!r.ok()) {
        return attempt->Finish(attempt->Error(attempt->timed_out
                                                  ? "no answer to the connection handshake within " +
                                                        std::to_string(attempt->timeout.count()) + "ms"
                                                  : "connection handshake failed: " + std::string(r.status().message())));
      }
      Connected c;
      c.round_trip = std::chrono::steady_clock::now() - sent;
      c.handshake = std::move(*r);
      c.connection = std::shared_ptr<Connection>(new Connection(attempt->endpoint, std::move(alive)));
      attempt->Finish(std::move(c));
    });
  };
  auto connect_step = [impl, attempt, handshake_step = std::move(handshake_step)](
                          std::vector<asio::generic::stream_protocol::endpoint> targets) mutable {
    if (targets.empty()) return attempt->Finish(attempt->Error("no address"));
    asio::async_connect(impl->socket, targets,
                        [impl, attempt, handshake_step = std::move(handshake_step)](
                            boost::system::error_code ec, const auto&) mutable {
                          if (!attempt->done) return;
                          if (ec) {
                            return attempt->Finish(attempt->Error(
                                attempt->timed_out ? "connect timed out after " +
                                                         std::to_string(attempt->timeout.count()) + "ms"
                                                   : "cannot connect: " + ec.message()));
                          }
                          handshake_step();
                        });
  };
  asio::post(io.context(), [impl, attempt, connect_step = std::move(connect_step)]() mutable {
    // One timer bounds the whole attempt: it closes the socket, which fails
    // the connect or the handshake in progress.
    attempt->timer.expires_after(attempt->timeout);
    attempt->timer.async_wait([impl, attempt](boost::system::error_code ec) {
      if (ec || !attempt->done) return;
      attempt->timed_out = true;
      attempt->resolver.cancel();
      if (impl->open.load()) {
        impl->Fail("connection handshake timed out");
      } else {
        boost::system::error_code ignored;
        impl->socket.close(ignored);
      }
    });
    const Endpoint& e = attempt->endpoint;
    if (!e.unix_socket.empty()) {
      return connect_step({asio::local::stream_protocol::endpoint(e.unix_socket)});
    }
    attempt->resolver.async_resolve(
        e.host, std::to_string(e.port),
        [attempt, connect_step = std::move(connect_step)](boost::system::error_code ec,
                                                          asio::ip::tcp::resolver::results_type results) mutable {
          if (!attempt->done) return;
          if (ec) {
            return attempt->Finish(attempt->Error(attempt->timed_out ? "name resolution timed out"
                                                                     : "cannot resolve: " + ec.message()));
          }
          std::vector<asio::generic::stream_protocol::endpoint> targets;
          for (const auto& r : results) targets.emplace_back(r.endpoint());
          connect_step(std::move(targets));
        });
  });
}

void Connection::Send(const std::vector<std::string>& args, ReplyCallback done) {
  std::string encoded = Format(args);
  asio::post(impl_->socket.get_executor(),
             [impl = impl_, encoded = std::move(encoded), done = std::move(done)]() mutable {
               impl->Enqueue(std::move(encoded), std::move(done));
             });
}

void Connection::SendAsking(const std::vector<std::string>& args, ReplyCallback done) {
  std::string asking = Format({"ASKING"});
  std::string encoded = Format(args);
  // Both are queued in one handler on the I/O thread, so no other command
  // can come between them.
  asio::post(impl_->socket.get_executor(), [impl = impl_, asking = std::move(asking), encoded = std::move(encoded),
                                            done = std::move(done)]() mutable {
    impl->Enqueue(std::move(asking), [](Result<Reply>) {});
    impl->Enqueue(std::move(encoded), std::move(done));
  });
}

Result<Reply> Connection::Call(std::vector<std::string> args) {
  std::promise<Result<Reply>> promise;
  std::future<Result<Reply>> reply = promise.get_future();
  Send(args, [&promise](Result<Reply> r) { promise.set_value(std::move(r)); });
  return reply.get();
}

Result<Reply> Connection::Call(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  // Shared with the callback, which may run after this call gave up.
  auto promise = std::make_shared<std::promise<Result<Reply>>>();
  std::future<Result<Reply>> reply = promise->get_future();
  Send(args, [promise](Result<Reply> r) { promise->set_value(std::move(r)); });
  if (reply.wait_for(timeout) != std::future_status::ready) {
    return DeadlineExceededError("redis " + endpoint_.ToString() + ": no reply within " +
                                 std::to_string(timeout.count()) + "ms; the command may still run");
  }
  return reply.get();
}

bool Connection::connected() const { return impl_->open.load() && !impl_->closing.load(); }

void Connection::Close() {
  impl_->closing.store(true);
  asio::post(impl_->socket.get_executor(), [impl = impl_] { impl->Fail("closed by the client"); });
}

}  // namespace sluice::redis
