// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// HttpServer on Boost.Beast. Each of the `io_threads` threads runs its own
// io_context, and every connection belongs to one of them (assigned round
// robin at accept), so a connection's handlers run on one thread without a
// strand, and no request crosses threads on its way through the server. A
// handler answering from another thread posts the reply to the connection's
// io_context. One Session template serves plain and TLS streams over TCP and
// Unix domain sockets.
//
// A connection reads one request at a time and reads the next only after the
// response is written, so pipelined requests are answered in order and a
// connection holds at most one request: its read buffer (request head plus
// 64 KiB), the body (max_body_bytes) and the response.
//
// The hot path is kept free of avoidable work: requests are parsed straight
// from the connection's buffer (no composed read operation per request), a
// response is serialized into one reused string and, on plain sockets,
// written at once without a trip through the reactor when the socket takes
// it, and the connection's one timer is re-armed only when a deadline moves
// earlier than the pending expiry (a fired timer that finds its deadline moved
// later waits again).
//
// Lifetimes: the io_contexts and the counters live in a Runtime shared by the
// server and by every pending reply callback, so a handler answering after the
// connection or even the server is gone touches only live memory. Sessions
// keep themselves alive through their pending operations and pending reply;
// the server only holds weak references to close them on Stop.

#include "daemon/http_server.h"

#include "daemon/asio.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <openssl/ssl.h>

namespace sluice::daemon {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
// Connections, timers and acceptors name their io_context's executor type
// instead of the type-erased any_io_executor, which costs a virtual call and
// often an allocation per operation.
using Executor = asio::io_context::executor_type;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <class Protocol>
using AcceptorSocket = asio::basic_socket_acceptor<Protocol, Executor>;
template <class Protocol>
using StreamSocket = asio::basic_stream_socket<Protocol, Executor>;

// Bytes the read buffer may hold beyond the request head: the part of a body
// that arrived with the head, or the next pipelined request.
constexpr size_t kReadSlack = 64 * 1024;
// A read buffer larger than this is given back while the connection idles.
constexpr size_t kIdleBufferKeep = 16 * 1024;
// A read asks for at least this much room.
constexpr size_t kReadSize = 4096;
// How long a closing connection may still send before it is cut off (it
// keeps the client from seeing a reset instead of the error we wrote).
constexpr std::chrono::milliseconds kLingerMax{1000};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool HasControlChars(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

class SessionBase;

// State shared by the server, its sessions and pending replies.
struct Runtime : std::enable_shared_from_this<Runtime> {
  explicit Runtime(int threads) {
    contexts.reserve(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  }
  ~Runtime() {
    // In index order: the acceptors' context (0) holds sockets being accepted
    // for the others, which must still exist when those sockets go.
    for (auto& context : contexts) context.reset();
  }

  HttpHandler* handler = nullptr;
  RequestLimits limits;
  std::string server_name;
  std::atomic<size_t> open_connections{0};
  std::atomic<size_t> in_flight{0};
  std::atomic<bool> stopping{false};  // no new connections or requests
  std::atomic<bool> stopped{false};   // the I/O threads are gone
  std::mutex mu;                      // guards `sessions`; with `changed`, waits for counters
  std::condition_variable changed;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  std::vector<std::unique_ptr<ssl::context>> tls_contexts;
  std::atomic<size_t> next_context{0};
  // Last member, destroyed first: sessions they destroy still find the rest.
  std::vector<std::unique_ptr<asio::io_context>> contexts;

  // Where the next connection goes.
  asio::io_context& NextContext() { return *contexts[next_context.fetch_add(1) % contexts.size()]; }

  void NotifyChanged() {
    std::lock_guard<std::mutex> lock(mu);
    changed.notify_all();
  }
};

// The type-independent face of a connection, for the server and replies.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  explicit SessionBase(Runtime* rt) : rt_(rt) { rt_->open_connections.fetch_add(1); }
  virtual ~SessionBase() {
    FinishRequest();
    {
      std::lock_guard<std::mutex> lock(rt_->mu);
      rt_->sessions.erase(this);
      rt_->open_connections.fetch_sub(1);
      rt_->changed.notify_all();
    }
  }
  SessionBase(const SessionBase&) = delete;
  SessionBase& operator=(const SessionBase&) = delete;

  Runtime* runtime() const { return rt_; }
  virtual Executor executor() = 0;
  // All below run on the session's executor.
  virtual void Start() = 0;
  virtual void Deliver(HttpResponse response) = 0;
  virtual void StopReading() = 0;
  virtual void ForceClose() = 0;

 protected:
  // Counts the request as answered (once).
  void FinishRequest() {
    if (!request_outstanding_) return;
    request_outstanding_ = false;
    if (rt_->in_flight.fetch_sub(1) == 1) rt_->NotifyChanged();
  }
  void BeginRequest() {
    request_outstanding_ = true;
    rt_->in_flight.fetch_add(1);
  }

  Runtime* rt_;

 private:
  bool request_outstanding_ = false;
};

// The callback a handler answers through. Holds the runtime (so the
// io_context outlives the session it owns) and the session; members are
// destroyed in reverse order, the session first.
class PendingReply {
 public:
  PendingReply(std::shared_ptr<Runtime> rt, std::shared_ptr<SessionBase> session)
      : rt_(std::move(rt)), session_(std::move(session)) {}
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;
  ~PendingReply() {
    if (!used_.load()) {
      HttpResponse response;
      response.status = 500;
      response.headers.emplace_back("Content-Type", "text/plain");
      response.body = "the request handler dropped the request without answering\n";
      Send(std::move(response));
    }
  }

  void Send(HttpResponse response) {
    if (used_.exchange(true)) return;  // answered already: the contract says once
    if (rt_->stopped.load()) return;   // nobody runs the I/O threads any more
    asio::dispatch(session_->executor(), [session = session_, response = std::move(response)]() mutable {
      session->Deliver(std::move(response));
    });
  }

 private:
  std::shared_ptr<Runtime> rt_;
  std::shared_ptr<SessionBase> session_;
  std::atomic<bool> used_{false};
};

template <class T>
struct IsTls : std::false_type {};
template <class S>
struct IsTls<ssl::stream<S>> : std::true_type {};

// One connection over `Stream`: a TCP or Unix stream socket, or an ssl::stream
// over either. Everything runs on the thread of the socket's io_context.
template <class Stream>
class Session final : public SessionBase {
 public:
  template <class... Args>
  Session(Runtime* rt, Args&&... args)
      : SessionBase(rt),
        stream_(std::forward<Args>(args)...),
        timer_(stream_.get_executor()),
        buffer_(rt->limits.max_header_bytes + kReadSlack) {}

  Executor executor() override { return stream_.get_executor(); }

  void Start() override {
    if constexpr (IsTls<Stream>::value) {
      phase_ = Phase::kHandshake;
      Arm(rt_->limits.request_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](const beast::error_code& ec) {
        if (ec) return self->CloseNow();
        self->WaitForRequest();
      });
    } else {
      // Lets Write try the socket directly; Asio's own operations are
      // unaffected.
      beast::error_code ignored;
      Socket().non_blocking(true, ignored);
      WaitForRequest();
    }
  }

  void Deliver(HttpResponse response) override {
    if (phase_ != Phase::kHandling) {  // closed while the handler worked
      FinishRequest();
      return;
    }
    if (response.stream) {
      StartStream(std::move(response));
    } else {
      Write(std::move(response), keep_alive_);
    }
  }

  void StopReading() override {
    stop_reading_ = true;
    if (phase_ == Phase::kIdle) CloseNow();
  }

  void ForceClose() override { CloseNow(); }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing, kClosed };

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  auto& Socket() { return beast::get_lowest_layer(stream_); }

  // The connection's one deadline; what passing it means depends on the phase
  // at that moment. The timer is re-armed only when the deadline moves before
  // its pending expiry; when it fires early it waits again for the deadline.
  void Arm(std::chrono::milliseconds after) {
    deadline_ = std::chrono::steady_clock::now() + after;
    if (!timer_pending_ || timer_expiry_ > deadline_) StartTimer(deadline_);
  }
  void Disarm() { deadline_ = TimePoint::max(); }

  void StartTimer(TimePoint when) {
    const uint64_t generation = ++timer_generation_;
    timer_pending_ = true;
    timer_expiry_ = when;
    timer_.expires_at(when);  // cancels a pending wait, whose handler then sees an old generation
    timer_.async_wait([self = Self(), generation](const beast::error_code& ec) {
      if (generation != self->timer_generation_) return;
      self->timer_pending_ = false;
      if (ec || self->deadline_ == TimePoint::max()) return;
      if (std::chrono::steady_clock::now() < self->deadline_) return self->StartTimer(self->deadline_);
      self->Disarm();
      self->OnTimeout();
    });
  }
  void StopTimer() {
    Disarm();
    ++timer_generation_;
    timer_pending_ = false;
    timer_.cancel();
  }

  void OnTimeout() {
    if (phase_ == Phase::kReading && !timed_out_) {
      // Slowloris: the read is cancelled and answered with 408. Should the
      // cancel miss (no read was pending), the second expiry closes the
      // connection.
      timed_out_ = true;
      beast::error_code ignored;
      Socket().cancel(ignored);
      Arm(kLingerMax);
    } else {
      CloseNow();
    }
  }

  void WaitForRequest() {
    if (stop_reading_ || rt_->stopping.load()) return CloseGracefully();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<size_t>(rt_->limits.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(static_cast<std::uint64_t>(rt_->limits.max_body_bytes));
    parser_->eager(true);
    continue_checked_ = false;
    if (buffer_.size() > 0) {  // a pipelined request is here already
      phase_ = Phase::kReading;
      Arm(rt_->limits.request_timeout);  // for the whole request, head and body
      return Parse();
    }
    phase_ = Phase::kIdle;
    if (buffer_.capacity() > kIdleBufferKeep) buffer_.shrink_to_fit();
    Arm(rt_->limits.idle_timeout);
    ReadMore();
  }

  void ReadMore() {
    const size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return OnReadError(http::error::buffer_overflow);
    const size_t want = std::min(room, std::max(kReadSize, buffer_.capacity() - buffer_.size()));
    stream_.async_read_some(buffer_.prepare(want), [self = Self()](const beast::error_code& ec, size_t n) {
      self->OnRead(ec, n);
    });
  }

  void OnRead(const beast::error_code& ec, size_t n) {
    if (phase_ == Phase::kIdle) {
      if (ec) return CloseNow();  // the client closed a connection between requests
      phase_ = Phase::kReading;
      Arm(rt_->limits.request_timeout);  // for the whole request, head and body
    } else if (phase_ != Phase::kReading) {
      return CloseNow();
    }
    if (ec) return OnReadError(ec);
    buffer_.commit(n);
    Parse();
  }

  // Feeds the buffered bytes to the parser: dispatches a complete request,
  // answers an Expect: 100-continue, or reads more.
  void Parse() {
    for (;;) {
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return OnReadError(ec);
      if (parser_->is_done()) return Dispatch();
      if (parser_->is_header_done() && !continue_checked_) {
        continue_checked_ = true;
        if (ExpectsContinue()) return WriteContinue();
      }
      if (used == 0 || buffer_.size() == 0) break;
    }
    ReadMore();
  }

  bool ExpectsContinue() {
    auto expect = parser_->get().find(http::field::expect);
    return expect != parser_->get().end() && EqualsIgnoreCase(expect->value(), "100-continue") &&
           parser_->get().version() >= 11;
  }

  void WriteContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = Self()](const beast::error_code& ec, size_t) {
                        if (ec) return self->CloseNow();
                        self->Parse();
                      });
  }

  void OnReadError(const beast::error_code& ec) {
    if (phase_ != Phase::kReading) return CloseNow();
    if (timed_out_) {
      return WriteError(408, "the request was not received within " +
                                 std::to_string(rt_->limits.request_timeout.count()) + " ms\n");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return WriteError(431, "the request head exceeds " + std::to_string(rt_->limits.max_header_bytes) +
                                 " bytes\n");
    }
    if (ec == http::error::body_limit) {
      return WriteError(413, "the request body exceeds " + std::to_string(rt_->limits.max_body_bytes) + " bytes\n");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == ssl::error::stream_truncated || ec.category() == asio::error::get_ssl_category() ||
        ec.category() == asio::error::get_system_category()) {
      return CloseNow();  // the client went away or the transport failed
    }
    WriteError(400, "bad request: " + ec.message() + "\n");
  }

  void Dispatch() {
    Disarm();
    phase_ = Phase::kHandling;
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    version_ = message.version();
    keep_alive_ = message.keep_alive();
    head_request_ = message.method() == http::verb::head;
    if (version_ >= 11 && message.find(http::field::host) == message.end()) {
      return WriteError(400, "bad request: HTTP/1.1 requires a Host header\n");
    }

    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.headers.reserve(8);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());

    BeginRequest();
    auto reply = std::make_shared<PendingReply>(rt_->shared_from_this(), shared_from_this());
    // Nothing of `this` is touched after Handle: the reply may already have
    // run Deliver (inline, on this thread) and started the write.
    try {
      rt_->handler->Handle(std::move(request), [reply](HttpResponse response) { reply->Send(std::move(response)); });
    } catch (const std::exception& e) {
      HttpResponse failure;
      failure.status = 500;
      failure.body = std::string("the request handler failed: ") + e.what() + "\n";
      reply->Send(std::move(failure));
    } catch (...) {
      HttpResponse failure;
      failure.status = 500;
      failure.body = "the request handler failed\n";
      reply->Send(std::move(failure));
    }
  }

  // Whether the connection stays open after this response.
  bool KeepAfterResponse(bool keep_alive) const { return keep_alive && !stop_reading_ && !rt_->stopping.load(); }

  // The headers the handler set, minus those the server writes itself and
  // any it could not write safely.
  template <class Emit>
  static void ForEachHandlerHeader(const HttpResponse& response, Emit&& emit) {
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || HasControlChars(name) || HasControlChars(value)) continue;
      if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
          EqualsIgnoreCase(name, "Connection")) {
        continue;  // the server frames the message itself
      }
      emit(name, value);
    }
  }

  static int ValidStatus(int status) { return status >= 100 && status <= 599 ? status : 500; }

  // Serializes a whole response into out_.
  void Serialize(const HttpResponse& response, int status, bool keep) {
    const bool no_body = status < 200 || status == 204 || status == 304;
    out_.clear();
    out_ += version_ >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
    out_ += std::to_string(status);
    out_ += ' ';
    out_ += http::obsolete_reason(static_cast<http::status>(status));
    out_ += "\r\n";
    ForEachHandlerHeader(response, [this](const std::string& name, const std::string& value) {
      out_ += name;
      out_ += ": ";
      out_ += value;
      out_ += "\r\n";
    });
    out_ += "Server: ";
    out_ += rt_->server_name;
    out_ += "\r\n";
    if (!no_body) {
      out_ += "Content-Length: ";
      out_ += std::to_string(response.body.size());
      out_ += "\r\n";
    }
    if (version_ >= 11 && !keep) out_ += "Connection: close\r\n";
    if (version_ < 11 && keep) out_ += "Connection: keep-alive\r\n";
    out_ += "\r\n";
    if (!no_body && !head_request_) out_ += response.body;
  }

  void Write(HttpResponse response, bool keep_alive) {
    try {
      const bool keep = KeepAfterResponse(keep_alive);
      Serialize(response, ValidStatus(response.status), keep);
      phase_ = Phase::kWriting;
      size_t written = 0;
      if constexpr (!IsTls<Stream>::value) {
        // Most responses fit the socket's send buffer: write at once and
        // skip the reactor. With a pipelined request waiting, go through
        // Asio instead, so a burst of them does not recurse here.
        if (buffer_.size() == 0) {
          beast::error_code ec;
          written = Socket().write_some(asio::buffer(out_), ec);
          if (ec == asio::error::would_block || ec == asio::error::try_again) {
            written = 0;
          } else if (ec) {
            return OnWritten(ec, keep);
          } else if (written == out_.size()) {
            return OnWritten(ec, keep);
          }
        }
      }
      Arm(WriteTimeout());
      asio::async_write(stream_, asio::buffer(out_.data() + written, out_.size() - written),
                        [self = Self(), keep](const beast::error_code& ec, size_t) { self->OnWritten(ec, keep); });
    } catch (const std::exception&) {
      CloseNow();
    }
  }

  void WriteError(int status, std::string body) {
    HttpResponse response;
    response.status = status;
    response.headers.emplace_back("Content-Type", "text/plain");
    response.body = std::move(body);
    if (version_ < 10) version_ = 11;
    Write(std::move(response), false);
  }

  void OnWritten(const beast::error_code& ec, bool keep) {
    Disarm();
    FinishRequest();
    stream_head_.reset();
    if (out_.capacity() > kIdleBufferKeep) std::string().swap(out_);
    if (ec) return CloseNow();
    if (!keep) return CloseGracefully();
    WaitForRequest();
  }

  // Streamed bodies: chunked for HTTP/1.1, delimited by the close for 1.0.
  void StartStream(HttpResponse response) {
    try {
      produce_ = std::move(response.stream);
      stream_head_.emplace();
      chunked_ = version_ >= 11;
      auto& message = stream_head_->message;
      message.version(version_);
      message.result(static_cast<unsigned>(ValidStatus(response.status)));
      ForEachHandlerHeader(response, [&message](const std::string& name, const std::string& value) {
        message.insert(name, value);
      });
      message.set(http::field::server, rt_->server_name);
      stream_keep_ = KeepAfterResponse(keep_alive_ && chunked_);
      message.keep_alive(stream_keep_);
      if (chunked_) message.chunked(true);
      stream_head_->serializer.emplace(message);
      phase_ = Phase::kWriting;
      Arm(WriteTimeout());
      http::async_write_header(stream_, *stream_head_->serializer,
                               [self = Self()](const beast::error_code& ec, size_t) {
                                 if (ec) return self->CloseNow();
                                 if (self->head_request_) {  // the head only: no producer calls
                                   self->produce_ = nullptr;
                                   return self->OnWritten(ec, self->stream_keep_);
                                 }
                                 self->NextChunk();
                               });
    } catch (const std::exception&) {
      CloseNow();
    }
  }

  void NextChunk() {
    chunk_.clear();
    bool more = false;
    try {
      // Producers may hand out empty pieces; only a non-empty one is a chunk.
      do {
        Result<bool> next = produce_(&chunk_);
        if (!next.ok()) return CloseNow();  // no last chunk: the client sees a broken body
        more = *next;
      } while (chunk_.empty() && more);
    } catch (const std::exception&) {
      return CloseNow();
    }
    Arm(WriteTimeout());
    auto done = [self = Self(), more](const beast::error_code& ec, size_t) {
      if (ec) return self->CloseNow();
      if (more) return self->NextChunk();
      self->produce_ = nullptr;
      self->OnWritten(ec, self->stream_keep_);
    };
    if (!chunked_) {
      if (chunk_.empty()) return done(beast::error_code{}, 0);
      asio::async_write(stream_, asio::buffer(chunk_), std::move(done));
    } else if (more) {
      asio::async_write(stream_, http::make_chunk(asio::buffer(chunk_)), std::move(done));
    } else if (chunk_.empty()) {
      asio::async_write(stream_, http::make_chunk_last(), std::move(done));
    } else {
      // The final piece, then the terminating chunk.
      asio::async_write(stream_, http::make_chunk(asio::buffer(chunk_)),
                        [self = Self(), done = std::move(done)](const beast::error_code& ec, size_t) mutable {
                          if (ec) return self->CloseNow();
                          asio::async_write(self->stream_, http::make_chunk_last(), std::move(done));
                        });
    }
  }

  std::chrono::milliseconds WriteTimeout() const {
    return std::max(rt_->limits.idle_timeout, rt_->limits.request_timeout);
  }

  // Says goodbye without losing what was written: TLS close_notify, or a
  // half-close followed by reading what the client still sends, so it is not
  // answered by a reset that could destroy the response in flight.
  void CloseGracefully() {
    if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosing;
    Arm(std::min(kLingerMax, std::max(rt_->limits.request_timeout, std::chrono::milliseconds(1))));
    if constexpr (IsTls<Stream>::value) {
      stream_.async_shutdown([self = Self()](const beast::error_code&) { self->CloseNow(); });
    } else {
      beast::error_code ignored;
      Socket().shutdown(asio::socket_base::shutdown_send, ignored);
      if (ignored) return CloseNow();
      Drain();
    }
  }

  void Drain() {
    buffer_.clear();
    Socket().async_read_some(buffer_.prepare(kReadSize), [self = Self()](const beast::error_code& ec, size_t) {
      if (ec || self->phase_ != Phase::kClosing) return self->CloseNow();
      self->Drain();
    });
  }

  void CloseNow() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    StopTimer();
    beast::error_code ignored;
    Socket().shutdown(asio::socket_base::shutdown_both, ignored);
    Socket().close(ignored);
    produce_ = nullptr;
    // A request still with the handler stays counted until its reply
    // arrives (Deliver) or the reply is dropped (the session's destructor).
  }

  struct StreamHead {
    http::response<http::empty_body> message;
    std::optional<http::response_serializer<http::empty_body>> serializer;
  };

  Stream stream_;
  SteadyTimer timer_;
  uint64_t timer_generation_ = 0;
  bool timer_pending_ = false;   // an async_wait of this generation is outstanding
  TimePoint timer_expiry_{};     // ... and expires then
  TimePoint deadline_ = TimePoint::max();
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;  // the serialized response being written
  std::optional<StreamHead> stream_head_;
  std::function<Result<bool>(std::string*)> produce_;
  std::string chunk_;
  Phase phase_ = Phase::kIdle;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool chunked_ = true;
  bool stream_keep_ = false;
  bool timed_out_ = false;
  bool stop_reading_ = false;
  bool continue_checked_ = false;
};

// Listening side of one listener.
class AcceptorBase {
 public:
  virtual ~AcceptorBase() = default;
  virtual void Run() = 0;
  // Closes the acceptor on its thread. Thread-safe.
  virtual void StopAsync() = 0;
  // Closes it here; only once the I/O threads are gone.
  virtual void CloseNow() = 0;
  // Removes the unix socket file if it is still ours. Thread-safe.
  virtual void RemoveSocketFile() {}
};

template <class Protocol>
class Acceptor final : public AcceptorBase, public std::enable_shared_from_this<Acceptor<Protocol>> {
 public:
  using Socket = StreamSocket<Protocol>;

  Acceptor(Runtime* rt, ssl::context* tls)
      : rt_(rt), tls_(tls), acceptor_(rt->contexts[0]->get_executor()), retry_(acceptor_.get_executor()) {}

  AcceptorSocket<Protocol>& acceptor() { return acceptor_; }

  void SetSocketFile(std::string path, dev_t dev, ino_t ino) {
    path_ = std::move(path);
    dev_ = dev;
    ino_ = ino;
  }

  void Run() override {
    asio::dispatch(acceptor_.get_executor(), [self = this->shared_from_this()] { self->Accept(); });
  }

  void StopAsync() override {
    asio::post(acceptor_.get_executor(), [self = this->shared_from_this()] { self->CloseNow(); });
  }

  void CloseNow() override {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

  void RemoveSocketFile() override {
    std::lock_guard<std::mutex> lock(path_mu_);
    if (path_.empty()) return;
    struct stat st {};
    // Only our own socket: a newer server may have replaced it meanwhile.
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
    path_.clear();
  }

 private:
  void Accept() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(rt_->NextContext().get_executor(),
                           [self = this->shared_from_this()](const beast::error_code& ec, Socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  void OnAccept(const beast::error_code& ec, Socket socket) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or memory: try again shortly instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = this->shared_from_this()](const beast::error_code& wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    if (rt_->stopping.load() || rt_->open_connections.load() >= rt_->limits.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      return Accept();
    }
    try {
      if constexpr (std::is_same_v<Protocol, tcp>) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
      }
      std::shared_ptr<SessionBase> session;
      if (tls_ != nullptr) {
        session = std::make_shared<Session<ssl::stream<Socket>>>(rt_, std::move(socket), *tls_);
      } else {
        session = std::make_shared<Session<Socket>>(rt_, std::move(socket));
      }
      {
        std::lock_guard<std::mutex> lock(rt_->mu);
        rt_->sessions.emplace(session.get(), session);
      }
      asio::dispatch(session->executor(), [session] { session->Start(); });
    } catch (const std::exception&) {
      // Out of memory or an SSL object could not be made: drop this one.
    }
    Accept();
  }

  Runtime* rt_;
  ssl::context* tls_;
  AcceptorSocket<Protocol> acceptor_;
  SteadyTimer retry_;
  std::mutex path_mu_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const std::string& address, const TlsSettings& tls) {
  const std::string where = "listener " + address + ": ";
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return InvalidArgumentError(where + "TLS needs both a certificate file and a key file");
  }
  if (!tls.client_ca_file.empty() && !tls.enabled()) {
    return InvalidArgumentError(where + "a client CA file (mTLS) needs a certificate and key as well");
  }
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) return InvalidArgumentError(where + "cannot use certificate file " + tls.cert_file + ": " + ec.message());
  context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec) return InvalidArgumentError(where + "cannot use key file " + tls.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return InvalidArgumentError(where + "key file " + tls.key_file + " does not match certificate " + tls.cert_file);
  }
  if (!tls.client_ca_file.empty()) {
    context->load_verify_file(tls.client_ca_file, ec);
    if (ec) {
      return InvalidArgumentError(where + "cannot use client CA file " + tls.client_ca_file + ": " + ec.message());
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(context->native_handle(), names);
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    static constexpr unsigned char kSessionContext[] = "sluiced";
    SSL_CTX_set_session_id_context(context->native_handle(), kSessionContext, sizeof(kSessionContext) - 1);
  }
  return context;
}

// A unix socket path that exists: replaced only when it is a socket nobody
// listens on any more.
Status ClearStaleSocket(const std::string& address, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return UnavailableError("listener " + address + ": cannot inspect " + path + ": " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return InvalidArgumentError("listener " + address + ": " + path + " exists and is not a socket; not replacing it");
  }
  asio::io_context probe_context;
  unix_stream::socket probe(probe_context);
  beast::error_code ec;
  probe.connect(unix_stream::endpoint(path), ec);
  if (!ec) return UnavailableError("listener " + address + ": another server is listening on " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return UnavailableError("listener " + address + ": cannot remove stale socket " + path + ": " +
                            std::strerror(errno));
  }
  return Status::Ok();
}

template <class Protocol>
Status Listen(AcceptorSocket<Protocol>& acceptor, const typename Protocol::endpoint& endpoint,
              const std::string& address, bool reuse_address) {
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec && reuse_address) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return UnavailableError("listener " + address + ": cannot listen: " + ec.message());
  return Status::Ok();
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view HttpRequest::Path() const {
  std::string_view path = target;
  const size_t query = path.find('?');
  return query == std::string_view::npos ? path : path.substr(0, query);
}

struct HttpServer::Impl {
  std::shared_ptr<Runtime> rt;
  std::vector<std::shared_ptr<AcceptorBase>> acceptors;
  std::vector<std::string> bound;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<Executor>> work;
  bool accepting = true;
  bool stopped = false;

  ~Impl() {
    // On a failed Start: nothing runs yet; acceptors go before the runtime.
    for (auto& acceptor : acceptors) acceptor->RemoveSocketFile();
    acceptors.clear();
  }

  Status AddListener(const ListenerSettings& settings) {
    SLUICE_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(settings.address));
    ssl::context* tls = nullptr;
    if (settings.tls.enabled() || !settings.tls.cert_file.empty() || !settings.tls.key_file.empty() ||
        !settings.tls.client_ca_file.empty()) {
      SLUICE_ASSIGN_OR_RETURN(auto context, MakeTlsContext(settings.address, settings.tls));
      tls = context.get();
      rt->tls_contexts.push_back(std::move(context));
    }
    if (address.is_unix) {
      SLUICE_RETURN_IF_ERROR(ClearStaleSocket(settings.address, address.path));
      auto acceptor = std::make_shared<Acceptor<unix_stream>>(rt.get(), tls);
      SLUICE_RETURN_IF_ERROR(
          Listen<unix_stream>(acceptor->acceptor(), unix_stream::endpoint(address.path), settings.address, false));
      struct stat st {};
      if (::lstat(address.path.c_str(), &st) == 0) acceptor->SetSocketFile(address.path, st.st_dev, st.st_ino);
      acceptors.push_back(acceptor);
      bound.push_back("unix:" + address.path);
      return Status::Ok();
    }
    beast::error_code ec;
    tcp::endpoint endpoint;
    auto ip = asio::ip::make_address(address.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(ip, address.port);
    } else {
      tcp::resolver resolver(*rt->contexts[0]);
      auto results = resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return InvalidArgumentError("listener " + settings.address + ": cannot resolve host '" + address.host +
                                    "': " + (ec ? ec.message() : std::string("no addresses")));
      }
      endpoint = results.begin()->endpoint();
    }
    auto acceptor = std::make_shared<Acceptor<tcp>>(rt.get(), tls);
    SLUICE_RETURN_IF_ERROR(Listen<tcp>(acceptor->acceptor(), endpoint, settings.address, true));
    const tcp::endpoint local = acceptor->acceptor().local_endpoint(ec);
    if (ec) return UnavailableError("listener " + settings.address + ": " + ec.message());
    const std::string host = local.address().to_string();
    bound.push_back((local.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(local.port()));
    acceptors.push_back(acceptor);
    return Status::Ok();
  }

  void StopAccepting() {
    if (!accepting) return;
    accepting = false;
    rt->stopping.store(true);
    for (auto& acceptor : acceptors) {
      acceptor->RemoveSocketFile();
      acceptor->StopAsync();
    }
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(rt->mu);
      for (auto& [raw, weak] : rt->sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (auto& session : live) asio::post(session->executor(), [session] { session->StopReading(); });
  }

  void Stop(std::chrono::milliseconds grace) {
    if (stopped) return;
    StopAccepting();
    {
      std::unique_lock<std::mutex> lock(rt->mu);
      rt->changed.wait_for(lock, grace, [&] { return rt->in_flight.load() == 0; });
    }
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(rt->mu);
      for (auto& [raw, weak] : rt->sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    // Every connection is closed on its own thread; wait (briefly) until all
    // those closes ran. Sessions still waiting for a handler's reply live on,
    // socket closed, until the handler answers or drops the reply.
    auto closes_left = std::make_shared<std::atomic<size_t>>(live.size());
    for (auto& session : live) {
      asio::post(session->executor(), [session, closes_left, rt = rt.get()] {
        session->ForceClose();
        if (closes_left->fetch_sub(1) == 1) rt->NotifyChanged();
      });
    }
    live.clear();
    {
      std::unique_lock<std::mutex> lock(rt->mu);
      rt->changed.wait_for(lock, std::chrono::seconds(1), [&] { return closes_left->load() == 0; });
    }
    rt->stopped.store(true);
    work.clear();
    for (auto& context : rt->contexts) context->stop();
    for (auto& thread : threads) thread.join();
    threads.clear();
    for (auto& acceptor : acceptors) acceptor->CloseNow();
    acceptors.clear();
    stopped = true;
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler* handler) {
  if (handler == nullptr) return InvalidArgumentError("HttpServer needs a handler");
  if (options.io_threads < 1) {
    return InvalidArgumentError("io_threads is " + std::to_string(options.io_threads) + "; it must be at least 1");
  }
  if (options.limits.max_connections == 0) return InvalidArgumentError("max_connections must be at least 1");
  if (options.limits.idle_timeout.count() <= 0 || options.limits.request_timeout.count() <= 0) {
    return InvalidArgumentError("idle_timeout and request_timeout must be positive");
  }
  if (options.limits.max_header_bytes < 64) return InvalidArgumentError("max_header_bytes must be at least 64");
  try {
    auto impl = std::make_unique<Impl>();
    impl->rt = std::make_shared<Runtime>(options.io_threads);
    impl->rt->handler = handler;
    impl->rt->limits = options.limits;
    impl->rt->server_name = options.server_name;
    size_t used = 0;
    for (const ListenerSettings& listener : options.listeners) {
      if (listener.address.empty()) continue;
      SLUICE_RETURN_IF_ERROR(impl->AddListener(listener));
      ++used;
    }
    if (used == 0) return InvalidArgumentError("HttpServer has no listener address");
    for (auto& context : impl->rt->contexts) impl->work.emplace_back(context->get_executor());
    for (auto& acceptor : impl->acceptors) acceptor->Run();
    for (auto& context : impl->rt->contexts) {
      impl->threads.emplace_back([ioc = context.get()] {
        for (;;) {
          try {
            ioc->run();
            return;
          } catch (const std::exception&) {
            // A handler threw (e.g. out of memory): keep serving the others.
          }
        }
      });
    }
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {
    return InternalError(std::string("HttpServer failed to start: ") + e.what());
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

std::vector<std::string> HttpServer::bound_addresses() const { return impl_->bound; }

void HttpServer::StopAccepting() { impl_->StopAccepting(); }

void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

size_t HttpServer::in_flight() const { return impl_->rt->in_flight.load(); }

size_t HttpServer::open_connections() const { return impl_->rt->open_connections.load(); }

}  // namespace sluice::daemon
