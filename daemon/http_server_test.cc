// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// HttpServer over real sockets (127.0.0.1:0 and unix sockets in a temp dir):
// keep-alive, pipelining, late answers from other threads, every limit,
// chunked streaming, TLS and mTLS (certificates made with the openssl CLI,
// requests made with curl), unix sockets and shutdown with requests in flight.

#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `done` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice_http_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

class LambdaHandler : public HttpHandler {
 public:
  explicit LambdaHandler(std::function<void(HttpRequest, HttpRespond)> fn) : fn_(std::move(fn)) {}
  void Handle(HttpRequest request, HttpRespond respond) override { fn_(std::move(request), std::move(respond)); }

 private:
  std::function<void(HttpRequest, HttpRespond)> fn_;
};

// Answers "<METHOD> <target> <body>" at once.
void Echo(HttpRequest request, HttpRespond respond) {
  HttpResponse response;
  response.headers.emplace_back("Content-Type", "text/plain");
  response.headers.emplace_back("X-Path", std::string(request.Path()));
  response.body = request.method + " " + request.target + " " + request.body;
  respond(std::move(response));
}

// A parsed response as a client sees it.
struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A blocking test client on a raw socket; every read has a deadline.
class RawClient {
 public:
  static RawClient Tcp(uint16_t port) {
    RawClient client;
    client.fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    client.connected_ = ::connect(client.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    return client;
  }
  static RawClient Unix(const std::string& path) {
    RawClient client;
    client.fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    client.connected_ = ::connect(client.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    return client;
  }
  RawClient(RawClient&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), connected_(other.connected_), pending_(std::move(other.pending_)) {}
  RawClient& operator=(RawClient&&) = delete;
  ~RawClient() { Close(); }

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one whole response; nullopt if the connection closed or broke
  // first, or `timeout` passed.
  std::optional<Reply> Read(std::chrono::milliseconds timeout = 5s, bool head_request = false) {
    const auto deadline = Clock::now() + timeout;
    size_t header_end = std::string::npos;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    Reply reply;
    const std::string head = pending_.substr(0, header_end + 2);
    pending_.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    reply.status = std::atoi(status_line.c_str() + 9);
    size_t pos = line_end + 2;
    while (pos < head.size()) {
      const size_t end = head.find("\r\n", pos);
      const std::string line = head.substr(pos, end - pos);
      pos = end + 2;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      reply.headers[name] = value;
    }
    if (head_request || reply.status < 200 || reply.status == 204 || reply.status == 304) {
      return reply;  // no body
    }
    if (reply.Header("transfer-encoding") == "chunked") {
      for (;;) {
        size_t size_end;
        while ((size_end = pending_.find("\r\n")) == std::string::npos) {
          if (!Fill(deadline)) return std::nullopt;
        }
        const size_t chunk = std::stoul(pending_.substr(0, size_end), nullptr, 16);
        while (pending_.size() < size_end + 2 + chunk + 2) {
          if (!Fill(deadline)) return std::nullopt;
        }
        if (pending_.compare(size_end + 2 + chunk, 2, "\r\n") != 0) return std::nullopt;
        reply.body += pending_.substr(size_end + 2, chunk);
        pending_.erase(0, size_end + 2 + chunk + 2);
        if (chunk == 0) break;
      }
    } else if (!reply.Header("content-length").empty()) {
      const size_t length = std::stoul(reply.Header("content-length"));
      while (pending_.size() < length) {
        if (!Fill(deadline)) return std::nullopt;
      }
      reply.body = pending_.substr(0, length);
      pending_.erase(0, length);
    } else {
      while (Fill(deadline)) {
      }
      reply.body = std::move(pending_);
      pending_.clear();
    }
    return reply;
  }

  // True once the server has closed the connection (EOF or reset) within
  // `timeout`; data arriving meanwhile is dropped.
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
  }

  // Whether the connection is still open `after` some quiet time.
  bool StillOpenAfter(std::chrono::milliseconds after) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(after.count())) == 0) return true;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK) > 0;
  }

 private:
  RawClient() = default;

  bool Fill(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}
std::string Post(const std::string& target, const std::string& body, const std::string& extra = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra + "\r\n" + body;
}

uint16_t PortOf(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}
uint16_t PortOf(const HttpServer& server) { return PortOf(server.bound_addresses().at(0)); }

HttpServerOptions Loopback(RequestLimits limits = {}) {
  HttpServerOptions options;
  options.listeners.push_back({"127.0.0.1:0", {}});
  options.limits = limits;
  options.io_threads = 2;
  return options;
}

std::unique_ptr<HttpServer> MustStart(HttpServerOptions options, HttpHandler* handler) {
  auto server = HttpServer::Start(std::move(options), handler);
  if (!server.ok()) {
    ADD_FAILURE() << server.status().ToString();
    return nullptr;
  }
  return std::move(server).value();
}

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate, made by the openssl CLI.
struct Certificates {
  explicit Certificates(const TempDir& dir)
      : ca(dir.File("ca.pem")),
        server_cert(dir.File("server.pem")),
        server_key(dir.File("server.key")),
        client_cert(dir.File("client.pem")),
        client_key(dir.File("client.key")) {
    const std::string d = dir.File("");
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string script =
        "set -e; cd '" + d + "'; " +                                                                     //
        "openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca; " +      //
        "openssl req" + ec + "-keyout server.key -out server.csr -subj /CN=localhost; " +                 //
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext; " +                          //
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "              //
        "-extfile server.ext -out server.pem; " +                                                          //
        "openssl req" + ec + "-keyout client.key -out client.csr -subj /CN=sluice-test-client; " +        //
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem";
    auto [status, output] = RunCommand("(" + script + ") 2>&1");
    ok = status == 0;
    if (!ok) ADD_FAILURE() << "openssl failed: " << output;
  }
  std::string ca, server_cert, server_key, client_cert, client_key;
  bool ok = false;
};

// ---------------------------------------------------------------------------

TEST(ParseListenAddressTest, AcceptsTheThreeForms) {
  auto v4 = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_FALSE(v4->is_unix);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);

  auto any = ParseListenAddress("0.0.0.0:0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port, 0);

  auto name = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "localhost");
  EXPECT_EQ(name->port, 65535);

  auto v6 = ParseListenAddress("[::1]:9090");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9090);

  auto unix_socket = ParseListenAddress("unix:/run/sluiced.sock");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_TRUE(unix_socket->is_unix);
  EXPECT_EQ(unix_socket->path, "/run/sluiced.sock");
}

TEST(ParseListenAddressTest, RejectsEachMistakeWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"127.0.0.1", "missing ':PORT'"},
      {"127.0.0.1:", "missing port"},
      {":8080", "missing host"},
      {"127.0.0.1:http", "not a number"},
      {"127.0.0.1:65536", "above 65535"},
      {"127.0.0.1:-1", "not a number"},
      {"::1:8080", "needs brackets"},
      {"[::1]", "expected ':PORT'"},
      {"[::1:8080", "closing ']'"},
      {"[]:8080", "empty IPv6"},
      {"[127.0.0.1]:8080", "not an IPv6 address"},
      {"bad host:80", "not a host name"},
      {"unix:", "missing socket path"},
      {"unix:/" + std::string(200, 'x'), "at most"},
  };
  for (const auto& [address, reason] : cases) {
    auto parsed = ParseListenAddress(address);
    ASSERT_FALSE(parsed.ok()) << address;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << address;
    EXPECT_NE(parsed.status().message().find(reason), std::string::npos)
        << address << " -> " << parsed.status().ToString();
  }
}

TEST(HttpRequestTest, HeaderIsCaseInsensitiveAndPathDropsTheQuery) {
  HttpRequest request;
  request.target = "/v1/decide?key=a&x=1";
  request.headers = {{"Content-Type", "application/json"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(request.Header("content-type").value_or(""), "application/json");
  EXPECT_EQ(request.Header("X-A").value_or(""), "1");
  EXPECT_FALSE(request.Header("missing").has_value());
  EXPECT_EQ(request.Path(), "/v1/decide");
  request.target = "/healthz";
  EXPECT_EQ(request.Path(), "/healthz");
}

TEST(HttpServerTest, StartRejectsBadSettings) {
  LambdaHandler handler(Echo);
  HttpServerOptions none;
  auto no_listener = HttpServer::Start(none, &handler);
  EXPECT_EQ(no_listener.status().code(), StatusCode::kInvalidArgument);

  HttpServerOptions bad_address = Loopback();
  bad_address.listeners[0].address = "127.0.0.1:99999";
  EXPECT_EQ(HttpServer::Start(bad_address, &handler).status().code(), StatusCode::kInvalidArgument);

  HttpServerOptions missing_cert = Loopback();
  missing_cert.listeners[0].tls.cert_file = "/nonexistent/cert.pem";
  missing_cert.listeners[0].tls.key_file = "/nonexistent/key.pem";
  auto tls = HttpServer::Start(missing_cert, &handler);
  EXPECT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("/nonexistent/cert.pem"), std::string::npos) << tls.status().ToString();

  HttpServerOptions half_tls = Loopback();
  half_tls.listeners[0].tls.cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(HttpServer::Start(half_tls, &handler).status().code(), StatusCode::kInvalidArgument);

  // A port in use: kUnavailable.
  auto first = MustStart(Loopback(), &handler);
  ASSERT_NE(first, nullptr);
  HttpServerOptions taken = Loopback();
  taken.listeners[0].address = first->bound_addresses()[0];
  auto second = HttpServer::Start(taken, &handler);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

TEST(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->bound_addresses().size(), 1u);
  EXPECT_EQ(server->bound_addresses()[0].rfind("127.0.0.1:", 0), 0u);

  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Post("/v1/decide?x=1", "hello")));
  auto first = client.Read();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "POST /v1/decide?x=1 hello");
  EXPECT_EQ(first->Header("x-path"), "/v1/decide");
  EXPECT_EQ(first->Header("server"), "sluiced");
  EXPECT_EQ(first->Header("content-length"), "25");
  EXPECT_EQ(first->Header("content-type"), "text/plain");
  EXPECT_TRUE(first->Header("connection").empty());  // HTTP/1.1: keep-alive is the default

  ASSERT_TRUE(client.Send(Get("/healthz")));
  auto second = client.Read();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body, "GET /healthz ");
  EXPECT_EQ(server->open_connections(), 1u);
  EXPECT_TRUE(client.StillOpenAfter(50ms));
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first request is answered late from another thread, the second at
  // once; the responses still come in request order.
  std::mutex mu;
  std::vector<std::thread> answerers;
  LambdaHandler handler([&](HttpRequest request, HttpRespond respond) {
    if (request.Path() == "/slow") {
      std::lock_guard<std::mutex> lock(mu);
      answerers.emplace_back([request = std::move(request), respond = std::move(respond)]() mutable {
        std::this_thread::sleep_for(50ms);
        Echo(std::move(request), std::move(respond));
      });
      return;
    }
    Echo(std::move(request), std::move(respond));
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/slow") + Get("/fast") + Post("/third", "3")));
  auto a = client.Read();
  auto b = client.Read();
  auto c = client.Read();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->body, "GET /slow ");
  EXPECT_EQ(b->body, "GET /fast ");
  EXPECT_EQ(c->body, "POST /third 3");
  server->Stop(1s);
  for (auto& t : answerers) t.join();
}

TEST(HttpServerTest, ConnectionCloseAndHttp10CloseAfterTheResponse) {
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);

  auto closing = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(closing.Send(Get("/a", "Connection: close\r\n")));
  auto reply = closing.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->Header("connection"), "close");
  EXPECT_TRUE(closing.WaitClosed());

  auto old = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(old.Send("GET /b HTTP/1.0\r\n\r\n"));
  auto old_reply = old.Read();
  ASSERT_TRUE(old_reply.has_value());
  EXPECT_EQ(old_reply->body, "GET /b ");
  EXPECT_TRUE(old.WaitClosed());

  // HTTP/1.0 with keep-alive asked for stays open.
  auto old_keep = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(old_keep.Send("GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto keep_reply = old_keep.Read();
  ASSERT_TRUE(keep_reply.has_value());
  EXPECT_EQ(keep_reply->Header("connection"), "keep-alive");
  ASSERT_TRUE(old_keep.Send("GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto keep_reply2 = old_keep.Read();
  ASSERT_TRUE(keep_reply2.has_value());
  EXPECT_EQ(keep_reply2->body, "GET /d ");
}

TEST(HttpServerTest, ExpectContinueAndHead) {
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->body, "POST /e hello");

  // HEAD: the length the body would have, and no body bytes (the next
  // response on the connection parses cleanly).
  ASSERT_TRUE(client.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/after")));
  auto head = client.Read(5s, /*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), "8");  // "HEAD /h "
  auto after = client.Read();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->body, "GET /after ");
}

TEST(HttpServerTest, HandlerAnswersLaterFromAnotherThread) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<HttpRequest, HttpRespond>> queue;
  LambdaHandler handler([&](HttpRequest request, HttpRespond respond) {
    std::lock_guard<std::mutex> lock(mu);
    queue.emplace_back(std::move(request), std::move(respond));
    cv.notify_all();
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Post("/later", "x")));

  std::pair<HttpRequest, HttpRespond> job;
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !queue.empty(); }));
    job = std::move(queue.front());
    queue.pop_front();
  }
  EXPECT_EQ(server->in_flight(), 1u);
  // No response before the handler answers.
  EXPECT_FALSE(client.Read(100ms).has_value());
  std::thread worker([&] {
    HttpResponse response;
    response.status = 429;
    response.headers.emplace_back("Retry-After", "7");
    response.body = "later " + job.first.body;
    job.second(std::move(response));
    // A second answer is ignored.
    job.second(HttpResponse{});
  });
  worker.join();
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 429);
  EXPECT_EQ(reply->Header("retry-after"), "7");
  EXPECT_EQ(reply->body, "later x");
  EXPECT_TRUE(WaitFor([&] { return server->in_flight() == 0; }));
  // The connection is still good for the next request.
  ASSERT_TRUE(client.Send(Get("/next")));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !queue.empty(); }));
    job = std::move(queue.front());
    queue.pop_front();
  }
  job.second(HttpResponse{200, {}, "ok", nullptr});
  auto next = client.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "ok");
}

TEST(HttpServerTest, AnswerAfterTheClientLeftIsHarmless) {
  std::mutex mu;
  std::optional<HttpRespond> held;
  LambdaHandler handler([&](HttpRequest request, HttpRespond respond) {
    if (request.Path() == "/hold") {
      std::lock_guard<std::mutex> lock(mu);
      held = std::move(respond);
      return;
    }
    Echo(std::move(request), std::move(respond));
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  {
    auto client = RawClient::Tcp(PortOf(*server));
    ASSERT_TRUE(client.Send(Get("/hold")));
    ASSERT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu);
      return held.has_value();
    }));
  }  // the client is gone
  std::thread([&] {
    std::lock_guard<std::mutex> lock(mu);
    (*held)(HttpResponse{200, {}, std::string(100000, 'z'), nullptr});
    held.reset();
  }).join();
  EXPECT_TRUE(WaitFor([&] { return server->in_flight() == 0 && server->open_connections() == 0; }));
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/still-serving")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
}

TEST(HttpServerTest, DroppedReplyBecomes500) {
  LambdaHandler handler([](HttpRequest, HttpRespond) {});  // never answers, drops the callback
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/x")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 500);
}

TEST(HttpServerTest, HandlerExceptionBecomes500) {
  LambdaHandler handler([](HttpRequest, HttpRespond) { throw std::runtime_error("boom"); });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/x")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 500);
  EXPECT_NE(reply->body.find("boom"), std::string::npos);
}

TEST(HttpServerTest, OversizedBodyGets413AndClose) {
  RequestLimits limits;
  limits.max_body_bytes = 1024;
  std::atomic<int> calls{0};
  LambdaHandler handler([&](HttpRequest request, HttpRespond respond) {
    ++calls;
    Echo(std::move(request), std::move(respond));
  });
  auto server = MustStart(Loopback(limits), &handler);
  ASSERT_NE(server, nullptr);

  // At the limit: served.
  auto fits = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(fits.Send(Post("/a", std::string(1024, 'b'))));
  auto ok = fits.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);

  // Declared too large: refused after the head, body sent or not.
  auto declared = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(declared.Send(Post("/a", std::string(5000, 'b'))));
  auto refused = declared.Read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(refused->Header("connection"), "close");
  EXPECT_TRUE(declared.WaitClosed());

  // Chunked and too large.
  auto chunked = RawClient::Tcp(PortOf(*server));
  std::string request = "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "200\r\n" + std::string(512, 'c') + "\r\n";
  request += "0\r\n\r\n";
  ASSERT_TRUE(chunked.Send(request));
  auto chunked_reply = chunked.Read();
  ASSERT_TRUE(chunked_reply.has_value());
  EXPECT_EQ(chunked_reply->status, 413);
  EXPECT_TRUE(chunked.WaitClosed());
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, OversizedHeadGets431AndClose) {
  RequestLimits limits;
  limits.max_header_bytes = 1024;
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(limits), &handler);
  ASSERT_NE(server, nullptr);
  auto fits = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(fits.Send(Get("/a", "X-Fill: " + std::string(700, 'h') + "\r\n")));
  auto ok = fits.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);

  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/a", "X-Fill: " + std::string(2000, 'h') + "\r\n")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 431);
  EXPECT_TRUE(client.WaitClosed());

  // A head that never ends is cut off at the limit as well.
  auto endless = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(endless.Send("GET /a HTTP/1.1\r\nHost: t\r\n"));
  for (int i = 0; i < 100; ++i) {
    if (!endless.Send("X-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n")) break;
  }
  auto endless_reply = endless.Read();
  ASSERT_TRUE(endless_reply.has_value());
  EXPECT_EQ(endless_reply->status, 431);
}

TEST(HttpServerTest, MalformedRequestsGet400AndClose) {
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  for (const std::string& bad : {std::string("HELLO THERE\r\n\r\n"), std::string("GET / HTTP/1.1\r\n\r\n"),
                                 std::string("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")}) {
    auto client = RawClient::Tcp(PortOf(*server));
    ASSERT_TRUE(client.Send(bad));
    auto reply = client.Read();
    ASSERT_TRUE(reply.has_value()) << bad;
    EXPECT_EQ(reply->status, 400) << bad;
    EXPECT_EQ(reply->Header("connection"), "close");
    EXPECT_TRUE(client.WaitClosed());
  }
}

TEST(HttpServerTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
  RequestLimits limits;
  limits.max_connections = 2;
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(limits), &handler);
  ASSERT_NE(server, nullptr);
  auto a = RawClient::Tcp(PortOf(*server));
  auto b = RawClient::Tcp(PortOf(*server));
  for (RawClient* c : {&a, &b}) {
    ASSERT_TRUE(c->Send(Get("/x")));
    ASSERT_TRUE(c->Read().has_value());
  }
  EXPECT_EQ(server->open_connections(), 2u);
  auto refused = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(refused.connected());  // the kernel accepts; the server closes it
  EXPECT_TRUE(refused.WaitClosed());
  EXPECT_EQ(server->open_connections(), 2u);

  a.Close();
  ASSERT_TRUE(WaitFor([&] { return server->open_connections() == 1; }));
  auto c = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(c.Send(Get("/y")));
  auto reply = c.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->body, "GET /y ");
}

TEST(HttpServerTest, IdleConnectionsAreClosed) {
  RequestLimits limits;
  limits.idle_timeout = 400ms;
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(limits), &handler);
  ASSERT_NE(server, nullptr);

  // Requests in quick succession keep the connection; then it idles out.
  auto used = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(used.Send(Get("/x")));
  ASSERT_TRUE(used.Read().has_value());
  ASSERT_TRUE(used.Send(Get("/y")));
  auto second = used.Read();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body, "GET /y ");
  EXPECT_TRUE(used.WaitClosed(5s));

  auto silent = RawClient::Tcp(PortOf(*server));
  EXPECT_TRUE(silent.WaitClosed(5s));
  EXPECT_TRUE(WaitFor([&] { return server->open_connections() == 0; }));
}

TEST(HttpServerTest, SlowlorisIsCutOffWith408) {
  RequestLimits limits;
  limits.request_timeout = 300ms;
  limits.idle_timeout = 10s;
  LambdaHandler handler(Echo);
  auto server = MustStart(Loopback(limits), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  // One byte of an endless head every 20 ms: never idle, never complete.
  const std::string drip = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(10000, 'a');
  const auto start = Clock::now();
  std::optional<Reply> reply;
  for (size_t i = 0; i < drip.size() && Clock::now() - start < 5s; ++i) {
    if (!client.Send(drip.substr(i, 1))) break;
    reply = client.Read(20ms);
    if (reply.has_value()) break;
  }
  if (!reply.has_value()) reply = client.Read(2s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 408);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, StreamedResponseUsesChunkedEncoding) {
  constexpr int kChunks = 300;
  LambdaHandler handler([](HttpRequest request, HttpRespond respond) {
    HttpResponse response;
    response.headers.emplace_back("Content-Type", "application/x-ndjson");
    if (request.Path() == "/export") {
      auto next = std::make_shared<int>(0);
      response.stream = [next](std::string* out) -> Result<bool> {
        if (*next % 7 == 3) {  // empty pieces are allowed and skipped
          ++*next;
          return true;
        }
        *out = "{\"record\":" + std::to_string(*next) + ",\"pad\":\"" + std::string(1000, 'p') + "\"}\n";
        return ++*next < kChunks;
      };
    } else {
      auto sent = std::make_shared<int>(0);
      response.stream = [sent](std::string* out) -> Result<bool> {
        if (*sent == 2) return UnavailableError("store went away");
        *out = "part" + std::to_string((*sent)++) + "\n";
        return true;
      };
    }
    respond(std::move(response));
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);

  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/export")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->Header("transfer-encoding"), "chunked");
  EXPECT_TRUE(reply->Header("content-length").empty());
  EXPECT_EQ(reply->Header("server"), "sluiced");
  std::string expected;
  for (int i = 0; i < kChunks; ++i) {
    if (i % 7 == 3) continue;
    expected += "{\"record\":" + std::to_string(i) + ",\"pad\":\"" + std::string(1000, 'p') + "\"}\n";
  }
  EXPECT_EQ(reply->body.size(), expected.size());
  EXPECT_EQ(reply->body, expected);
  // Keep-alive after a streamed response.
  ASSERT_TRUE(client.Send(Get("/export")));
  auto again = client.Read();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->body, expected);

  // HTTP/1.0 gets the stream delimited by the close.
  auto old = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(old.Send("GET /export HTTP/1.0\r\n\r\n"));
  auto old_reply = old.Read();
  ASSERT_TRUE(old_reply.has_value());
  EXPECT_TRUE(old_reply->Header("transfer-encoding").empty());
  EXPECT_EQ(old_reply->body, expected);

  // HEAD: the head of the streamed response and nothing else.
  ASSERT_TRUE(client.Send("HEAD /export HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/export")));
  auto head = client.Read(5s, /*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->Header("transfer-encoding"), "chunked");
  auto after_head = client.Read();
  ASSERT_TRUE(after_head.has_value());
  EXPECT_EQ(after_head->body, expected);

  // A failing stream ends with a closed connection and no final chunk.
  auto broken = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(broken.Send(Get("/broken")));
  EXPECT_FALSE(broken.Read().has_value());
  EXPECT_TRUE(WaitFor([&] { return server->in_flight() == 0; }));
}

TEST(HttpServerTest, UnixSocketReplacesAStaleFileAndRemovesItOnStop) {
  TempDir dir;
  const std::string path = dir.File("sluiced.sock");
  {
    // A stale socket file: bound, then abandoned without unlink.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  LambdaHandler handler(Echo);
  HttpServerOptions options;
  options.listeners.push_back({"unix:" + path, {}});
  auto server = MustStart(options, &handler);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->bound_addresses(), std::vector<std::string>{"unix:" + path});

  auto client = RawClient::Unix(path);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Post("/u", "over unix")));
  auto reply = client.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->body, "POST /u over unix");
  ASSERT_TRUE(client.Send(Get("/again")));
  ASSERT_TRUE(client.Read().has_value());

  auto [status, output] = RunCommand("curl -sS --max-time 10 --unix-socket '" + path + "' http://localhost/curl 2>&1");
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "GET /curl ");

  // A live server's socket is not taken over.
  auto second = HttpServer::Start(options, &handler);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();

  server->Stop(1s);
  EXPECT_FALSE(std::filesystem::exists(path));

  // A regular file at the path is never replaced.
  { std::ofstream(path) << "not a socket"; }
  auto refused = HttpServer::Start(options, &handler);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(HttpServerTest, TlsOverTcpAndUnix) {
  TempDir dir;
  Certificates certs(dir);
  ASSERT_TRUE(certs.ok);
  LambdaHandler handler(Echo);
  HttpServerOptions options;
  TlsSettings tls{certs.server_cert, certs.server_key, ""};
  options.listeners.push_back({"127.0.0.1:0", tls});
  options.listeners.push_back({"unix:" + dir.File("tls.sock"), tls});
  options.listeners.push_back({"127.0.0.1:0", {}});  // plain beside TLS
  auto server = MustStart(options, &handler);
  ASSERT_NE(server, nullptr);
  const std::string tls_port = std::to_string(PortOf(*server));

  // Two requests in one curl run: the second reuses the TLS connection.
  auto [status, output] =
      RunCommand("curl -sS --max-time 10 --cacert '" + certs.ca + "' -w ' [%{http_code} %{num_connects}]\\n' https://127.0.0.1:" +
          tls_port + "/one https://127.0.0.1:" + tls_port + "/two -d body 2>&1");
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "POST /one body [200 1]\nPOST /two body [200 0]\n");

  auto [unix_status, unix_output] = RunCommand("curl -sS --max-time 10 --cacert '" + certs.ca + "' --unix-socket '" +
                                        dir.File("tls.sock") + "' https://localhost/over-unix 2>&1");
  EXPECT_EQ(unix_status, 0) << unix_output;
  EXPECT_EQ(unix_output, "GET /over-unix ");

  // Plain HTTP to the TLS port fails; the plain listener works.
  auto plain_to_tls = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(plain_to_tls.Send(Get("/x")));
  EXPECT_FALSE(plain_to_tls.Read().has_value());
  auto plain = RawClient::Tcp(PortOf(server->bound_addresses()[2]));
  ASSERT_TRUE(plain.Send(Get("/plain")));
  auto plain_reply = plain.Read();
  ASSERT_TRUE(plain_reply.has_value());
  EXPECT_EQ(plain_reply->body, "GET /plain ");
}

TEST(HttpServerTest, MutualTlsRefusesClientsWithoutACertificate) {
  TempDir dir;
  Certificates certs(dir);
  ASSERT_TRUE(certs.ok);
  LambdaHandler handler(Echo);
  HttpServerOptions options;
  options.listeners.push_back({"127.0.0.1:0", {certs.server_cert, certs.server_key, certs.ca}});
  auto server = MustStart(options, &handler);
  ASSERT_NE(server, nullptr);
  const std::string url = "https://127.0.0.1:" + std::to_string(PortOf(*server)) + "/m";

  auto [refused, refused_output] = RunCommand("curl -sS --max-time 10 --cacert '" + certs.ca + "' " + url + " 2>&1");
  EXPECT_NE(refused, 0) << refused_output;
  EXPECT_EQ(refused_output.find("GET /m"), std::string::npos);

  auto [status, output] = RunCommand("curl -sS --max-time 10 --cacert '" + certs.ca + "' --cert '" + certs.client_cert +
                              "' --key '" + certs.client_key + "' " + url + " 2>&1");
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "GET /m ");
}

TEST(HttpServerTest, StopLetsTheRequestInFlightFinishWithinGrace) {
  std::mutex mu;
  std::optional<HttpRespond> held;
  LambdaHandler handler([&](HttpRequest request, HttpRespond respond) {
    if (request.Path() == "/hold") {
      std::lock_guard<std::mutex> lock(mu);
      held = std::move(respond);
      return;
    }
    Echo(std::move(request), std::move(respond));
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  const uint16_t port = PortOf(*server);
  auto busy = RawClient::Tcp(port);
  auto idle = RawClient::Tcp(port);
  ASSERT_TRUE(idle.Send(Get("/x")));
  ASSERT_TRUE(idle.Read().has_value());
  ASSERT_TRUE(busy.Send(Get("/hold")));
  // Wait for the handler to hold the request itself: in_flight() alone can
  // still count the idle connection's answer, whose write completes on the
  // server after the client has read it.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return held.has_value();
  }));
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 1; }));

  const auto start = Clock::now();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->Stop(10s);
    stopped = true;
  });
  // New connections are refused and the idle one is closed at once.
  EXPECT_TRUE(idle.WaitClosed());
  ASSERT_TRUE(WaitFor([&] {
    auto late = RawClient::Tcp(port);
    return !late.connected() || late.WaitClosed(1s);
  }));
  EXPECT_FALSE(stopped.load());
  {
    std::lock_guard<std::mutex> lock(mu);
    (*held)(HttpResponse{200, {}, "finished", nullptr});
    held.reset();
  }
  auto reply = busy.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->body, "finished");
  EXPECT_EQ(reply->Header("connection"), "close");
  stopper.join();
  EXPECT_LT(Clock::now() - start, 9s);
  EXPECT_EQ(server->in_flight(), 0u);
}

TEST(HttpServerTest, StopGivesUpOnAnUnansweredRequestAfterGrace) {
  std::mutex mu;
  std::optional<HttpRespond> held;
  LambdaHandler handler([&](HttpRequest, HttpRespond respond) {
    std::lock_guard<std::mutex> lock(mu);
    held = std::move(respond);
  });
  auto server = MustStart(Loopback(), &handler);
  ASSERT_NE(server, nullptr);
  auto client = RawClient::Tcp(PortOf(*server));
  ASSERT_TRUE(client.Send(Get("/never")));
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 1; }));
  const auto start = Clock::now();
  server->Stop(200ms);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(client.WaitClosed());
  // Answering after Stop, and even after the server is gone, is harmless.
  server->Stop(0ms);  // idempotent
  server.reset();
  std::lock_guard<std::mutex> lock(mu);
  (*held)(HttpResponse{200, {}, "too late", nullptr});
  held.reset();
}

}  // namespace
}  // namespace sluice::daemon
