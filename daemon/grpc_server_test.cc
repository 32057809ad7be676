// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/grpc_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sluice/status.h"

namespace sluice::daemon {
namespace {

namespace rls = envoy::service::ratelimit::v3;
namespace health = grpc::health::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every wait in these tests is bounded by this.
constexpr auto kTimeout = std::chrono::seconds(20);

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice_grpc_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A decider that answers at once: one OK status per descriptor, its remaining
// count the request's hits_addend, so the test can see the request arrived
// intact.
RlsDecider EchoDecider(std::atomic<int>* calls = nullptr) {
  return [calls](RlsRequest request, std::function<void(Result<RlsResponse>)> done) {
    if (calls) ++*calls;
    RlsResponse response;
    response.overall_code = RlsCode::kOk;
    for (const RlsDescriptor& d : request.descriptors) {
      RlsDescriptorStatus s;
      s.code = RlsCode::kOk;
      s.current_limit = RlsRateLimit{.requests_per_unit = 10, .unit = RlsUnit::kMinute, .name = d.entries.at(0).value};
      s.limit_remaining = request.hits_addend;
      s.duration_until_reset = std::chrono::seconds(30);
      response.statuses.push_back(std::move(s));
    }
    response.response_headers_to_add.push_back({.key = "x-domain", .value = request.domain});
    done(std::move(response));
  };
}

rls::RateLimitRequest Request(const std::string& domain, const std::string& value, uint32_t hits = 1) {
  rls::RateLimitRequest request;
  request.set_domain(domain);
  request.set_hits_addend(hits);
  auto* entry = request.add_descriptors()->add_entries();
  entry->set_key("user");
  entry->set_value(value);
  return request;
}

std::unique_ptr<rls::RateLimitService::Stub> RlsStub(const std::string& target,
                                                     std::shared_ptr<grpc::ChannelCredentials> creds = nullptr,
                                                     const grpc::ChannelArguments& args = {}) {
  if (!creds) creds = grpc::InsecureChannelCredentials();
  return rls::RateLimitService::NewStub(grpc::CreateCustomChannel(target, creds, args));
}

grpc::Status Call(rls::RateLimitService::Stub& stub, const rls::RateLimitRequest& request,
                  rls::RateLimitResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kTimeout);
  return stub.ShouldRateLimit(&context, request, response);
}

GrpcServerOptions Options(std::vector<std::string> addresses) {
  GrpcServerOptions options;
  for (std::string& a : addresses) options.listeners.push_back(ListenerSettings{.address = std::move(a), .tls = {}});
  return options;
}

std::unique_ptr<GrpcServer> MustStart(GrpcServerOptions options, RlsDecider decider) {
  auto server = GrpcServer::Start(std::move(options), std::move(decider));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

TEST(GrpcServerTest, AnswersOverTcpAndUnixSocket) {
  TempDir dir;
  const std::string socket = dir.File("rls.sock");
  std::atomic<int> calls{0};
  auto server = MustStart(Options({"127.0.0.1:0", "unix:" + socket}), EchoDecider(&calls));
  ASSERT_TRUE(server);
  const std::vector<std::string> bound = server->bound_addresses();
  ASSERT_EQ(bound.size(), 2u);
  EXPECT_THAT(bound[0], StartsWith("127.0.0.1:"));
  EXPECT_NE(bound[0], "127.0.0.1:0");
  EXPECT_EQ(bound[1], "unix:" + socket);

  for (const std::string& target : bound) {
    SCOPED_TRACE(target);
    auto stub = RlsStub(target);
    rls::RateLimitResponse response;
    grpc::Status status = Call(*stub, Request("edge", "alice", 3), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.overall_code(), rls::RateLimitResponse::OK);
    ASSERT_EQ(response.statuses_size(), 1);
    EXPECT_EQ(response.statuses(0).current_limit().name(), "alice");
    EXPECT_EQ(response.statuses(0).current_limit().unit(), rls::RateLimitResponse::RateLimit::MINUTE);
    EXPECT_EQ(response.statuses(0).limit_remaining(), 3u);
    EXPECT_EQ(response.statuses(0).duration_until_reset().seconds(), 30);
    ASSERT_EQ(response.response_headers_to_add_size(), 1);
    EXPECT_EQ(response.response_headers_to_add(0).value(), "edge");
  }
  EXPECT_EQ(calls.load(), 2);
}

TEST(GrpcServerTest, DeciderErrorsBecomeTheirGrpcCodes) {
  struct Case {
    StatusCode code;
    grpc::StatusCode expected;
  };
  const std::vector<Case> cases = {
      {StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {StatusCode::kNotSupported, grpc::StatusCode::UNIMPLEMENTED},
      {StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {StatusCode::kInternal, grpc::StatusCode::INTERNAL},
  };
  // The domain names the code the decider fails with.
  auto server = MustStart(Options({"127.0.0.1:0"}), [](RlsRequest request, auto done) {
    const auto code = static_cast<StatusCode>(std::stoi(request.domain));
    done(Status(code, "failed for " + request.domain));
  });
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  for (const Case& c : cases) {
    const std::string domain = std::to_string(static_cast<int>(c.code));
    SCOPED_TRACE(domain);
    rls::RateLimitResponse response;
    grpc::Status status = Call(*stub, Request(domain, "v"), &response);
    EXPECT_EQ(status.error_code(), c.expected);
    EXPECT_EQ(status.error_message(), "failed for " + domain);
  }
}

TEST(GrpcServerTest, RequestTheModelCannotHoldIsInvalidArgumentWithoutDeciding) {
  std::atomic<int> calls{0};
  auto server = MustStart(Options({"127.0.0.1:0"}), EchoDecider(&calls));
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  rls::RateLimitRequest request = Request("edge", "v");
  request.mutable_descriptors(0)->mutable_limit()->set_unit(static_cast<envoy::type::v3::RateLimitUnit>(99));
  rls::RateLimitResponse response;
  grpc::Status status = Call(*stub, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("unit"));
  EXPECT_EQ(calls.load(), 0);
}

// Holds every `done` it is given until the test answers.
struct HeldCalls {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<RlsRequest, std::function<void(Result<RlsResponse>)>>> calls;

  RlsDecider Decider() {
    return [this](RlsRequest request, std::function<void(Result<RlsResponse>)> done) {
      std::lock_guard<std::mutex> lock(mu);
      calls.emplace_back(std::move(request), std::move(done));
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kTimeout, [&] { return calls.size() >= n; });
  }
  std::function<void(Result<RlsResponse>)> Take(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return std::move(calls.at(i).second);
  }
};

RlsResponse OverLimit() {
  RlsResponse response;
  response.overall_code = RlsCode::kOverLimit;
  RlsDescriptorStatus s;
  s.code = RlsCode::kOverLimit;
  response.statuses.push_back(s);
  return response;
}

TEST(GrpcServerTest, DeciderMayAnswerLaterFromAnotherThread) {
  HeldCalls held;
  auto server = MustStart(Options({"127.0.0.1:0"}), held.Decider());
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  rls::RateLimitResponse response;
  auto call = std::async(std::launch::async, [&] { return Call(*stub, Request("later", "bob"), &response); });
  ASSERT_TRUE(held.WaitFor(1));
  // The call is still open while the decider holds it.
  EXPECT_EQ(call.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  std::thread answer([done = held.Take(0)] { done(OverLimit()); });
  answer.join();
  ASSERT_EQ(call.wait_for(kTimeout), std::future_status::ready);
  grpc::Status status = call.get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.overall_code(), rls::RateLimitResponse::OVER_LIMIT);
  ASSERT_EQ(response.statuses_size(), 1);
  EXPECT_EQ(response.statuses(0).code(), rls::RateLimitResponse::OVER_LIMIT);
}

TEST(GrpcServerTest, StopDrainsCallsInFlightThenRefusesNewOnes) {
  HeldCalls held;
  auto server = MustStart(Options({"127.0.0.1:0"}), held.Decider());
  ASSERT_TRUE(server);
  const std::string target = server->bound_addresses()[0];
  auto stub = RlsStub(target);
  rls::RateLimitResponse response;
  auto call = std::async(std::launch::async, [&] { return Call(*stub, Request("drain", "v"), &response); });
  ASSERT_TRUE(held.WaitFor(1));
  auto stop = std::async(std::launch::async, [&] { server->Stop(kTimeout); });
  // Stop waits for the call in flight ...
  EXPECT_EQ(stop.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  held.Take(0)(OverLimit());
  ASSERT_EQ(call.wait_for(kTimeout), std::future_status::ready);
  grpc::Status status = call.get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.overall_code(), rls::RateLimitResponse::OVER_LIMIT);
  ASSERT_EQ(stop.wait_for(kTimeout), std::future_status::ready);
  // ... and a new connection finds nobody listening.
  auto fresh = RlsStub(target);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kTimeout);
  rls::RateLimitResponse ignored;
  EXPECT_EQ(fresh->ShouldRateLimit(&context, Request("late", "v"), &ignored).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  server->Stop(kTimeout);  // idempotent
}

TEST(GrpcServerTest, StopGivesUpOnCallsTheDeciderHoldsPastGrace) {
  HeldCalls held;
  auto server = MustStart(Options({"127.0.0.1:0"}), held.Decider());
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  rls::RateLimitResponse response;
  auto call = std::async(std::launch::async, [&] { return Call(*stub, Request("stuck", "v"), &response); });
  ASSERT_TRUE(held.WaitFor(1));
  // The decider never answers before Stop returns: Stop must not wait for it.
  auto stop = std::async(std::launch::async, [&] { server->Stop(std::chrono::milliseconds(50)); });
  ASSERT_EQ(stop.wait_for(kTimeout), std::future_status::ready);
  ASSERT_EQ(call.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::UNAVAILABLE);
  server.reset();
  // A late answer, after the server is gone, changes nothing and harms nothing.
  held.Take(0)(OverLimit());
}

TEST(GrpcServerTest, HealthCheckFollowsServingLive) {
  std::atomic<bool> serving{true};
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.serving = [&serving] { return serving.load(); };
  auto server = MustStart(std::move(options), EchoDecider());
  ASSERT_TRUE(server);
  auto channel = grpc::CreateChannel(server->bound_addresses()[0], grpc::InsecureChannelCredentials());
  auto stub = health::Health::NewStub(channel);
  auto check = [&](const std::string& service, health::HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kTimeout);
    health::HealthCheckRequest request;
    request.set_service(service);
    return stub->Check(&context, request, response);
  };
  for (const char* service : {"", "envoy.service.ratelimit.v3.RateLimitService", "ratelimit"}) {
    SCOPED_TRACE(service);
    serving = true;
    health::HealthCheckResponse response;
    ASSERT_TRUE(check(service, &response).ok());
    EXPECT_EQ(response.status(), health::HealthCheckResponse::SERVING);
    serving = false;
    ASSERT_TRUE(check(service, &response).ok());
    EXPECT_EQ(response.status(), health::HealthCheckResponse::NOT_SERVING);
  }
  health::HealthCheckResponse response;
  EXPECT_EQ(check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Waits for `tag` on `cq`; false on timeout or a failed operation.
bool Await(grpc::CompletionQueue& cq, intptr_t tag) {
  void* got = nullptr;
  bool ok = false;
  const auto status = cq.AsyncNext(&got, &ok, std::chrono::system_clock::now() + kTimeout);
  return status == grpc::CompletionQueue::GOT_EVENT && ok && got == reinterpret_cast<void*>(tag);
}

TEST(GrpcServerTest, ReflectionListsTheServices) {
  auto server = MustStart(Options({"127.0.0.1:0"}), EchoDecider());
  ASSERT_TRUE(server);
  auto channel = grpc::CreateChannel(server->bound_addresses()[0], grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kTimeout);
  auto call = stub.PrepareCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(Await(cq, 1));
  // ServerReflectionRequest{list_services: ""}: field 7, length 0.
  const std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(Await(cq, 2));
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  ASSERT_TRUE(Await(cq, 3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string answer;
  for (const grpc::Slice& s : slices) answer.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(answer, HasSubstr("envoy.service.ratelimit.v3.RateLimitService"));
  EXPECT_THAT(answer, HasSubstr("grpc.health.v1.Health"));
  call->WritesDone(reinterpret_cast<void*>(4));
  ASSERT_TRUE(Await(cq, 4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(Await(cq, 5));
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST(GrpcServerTest, OversizedMessageIsRejected) {
  std::atomic<int> calls{0};
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.limits.max_body_bytes = 512;
  auto server = MustStart(std::move(options), EchoDecider(&calls));
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  rls::RateLimitResponse response;
  EXPECT_TRUE(Call(*stub, Request("edge", std::string(400, 'a')), &response).ok());
  grpc::Status status = Call(*stub, Request("edge", std::string(600, 'a')), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(calls.load(), 1);
}

TEST(GrpcServerTest, OversizedMetadataIsRejected) {
  std::atomic<int> calls{0};
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.limits.max_header_bytes = 2048;
  auto server = MustStart(std::move(options), EchoDecider(&calls));
  ASSERT_TRUE(server);
  auto stub = RlsStub(server->bound_addresses()[0]);
  auto call_with_metadata = [&](size_t bytes) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kTimeout);
    context.AddMetadata("x-padding", std::string(bytes, 'p'));
    rls::RateLimitResponse response;
    return stub->ShouldRateLimit(&context, Request("edge", "v"), &response);
  };
  EXPECT_TRUE(call_with_metadata(500).ok());
  grpc::Status status = call_with_metadata(6000);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(calls.load(), 1) << status.error_message();
}

TEST(GrpcServerTest, StartErrors) {
  TempDir dir;
  auto expect_error = [](GrpcServerOptions options, StatusCode code, const std::string& text) {
    auto server = GrpcServer::Start(std::move(options), EchoDecider());
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.status().code(), code) << server.status().ToString();
    EXPECT_THAT(std::string(server.status().message()), HasSubstr(text));
  };
  expect_error(Options({}), StatusCode::kInvalidArgument, "no listen address");
  expect_error(Options({"127.0.0.1"}), StatusCode::kInvalidArgument, "gRPC listener");

  GrpcServerOptions tls = Options({"127.0.0.1:0"});
  tls.listeners[0].tls = TlsSettings{.cert_file = dir.File("missing.pem"), .key_file = dir.File("missing.key"),
                                     .client_ca_file = ""};
  expect_error(tls, StatusCode::kInvalidArgument, "missing.pem");
  {
    std::ofstream(dir.File("junk.pem")) << "not a certificate\n";
    std::ofstream(dir.File("junk.key")) << "not a key\n";
  }
  tls.listeners[0].tls = TlsSettings{.cert_file = dir.File("junk.pem"), .key_file = dir.File("junk.key"),
                                     .client_ca_file = ""};
  expect_error(tls, StatusCode::kInvalidArgument, "no PEM certificate");

  // A port already taken is a bind failure, not a shared port.
  auto first = MustStart(Options({"127.0.0.1:0"}), EchoDecider());
  ASSERT_TRUE(first);
  expect_error(Options({first->bound_addresses()[0]}), StatusCode::kUnavailable, first->bound_addresses()[0]);

  EXPECT_FALSE(GrpcServer::Start(Options({"127.0.0.1:0"}), RlsDecider()).ok());
}

// Test PKI made with the openssl command: a CA, a server certificate for
// localhost / 127.0.0.1 and a client certificate, all signed by the CA, and a
// second CA that signed nothing we trust.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.File("");
    std::ofstream(dir_.File("server.ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    std::ofstream(dir_.File("client.ext")) << "extendedKeyUsage=clientAuth\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::vector<std::string> commands = {
        "openssl req -x509" + ec + " -keyout " + d + "ca.key -out " + d + "ca.pem -days 2 -subj /CN=sluice-test-ca",
        "openssl req" + ec + " -keyout " + d + "server.key -out " + d + "server.csr -subj /CN=localhost",
        "openssl x509 -req -in " + d + "server.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -CAcreateserial -out " +
            d + "server.pem -days 2 -extfile " + d + "server.ext",
        "openssl req" + ec + " -keyout " + d + "client.key -out " + d + "client.csr -subj /CN=client",
        "openssl x509 -req -in " + d + "client.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -CAcreateserial -out " +
            d + "client.pem -days 2 -extfile " + d + "client.ext",
    };
    for (const std::string& command : commands) {
      ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
    }
  }

  TlsSettings ServerTls(bool require_client_cert) const {
    return TlsSettings{.cert_file = dir_.File("server.pem"), .key_file = dir_.File("server.key"),
                       .client_ca_file = require_client_cert ? dir_.File("ca.pem") : ""};
  }

  std::unique_ptr<rls::RateLimitService::Stub> TlsStub(const std::string& target, bool with_client_cert) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(dir_.File("ca.pem"));
    if (with_client_cert) {
      ssl.pem_private_key = ReadAll(dir_.File("client.key"));
      ssl.pem_cert_chain = ReadAll(dir_.File("client.pem"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return RlsStub(target, grpc::SslCredentials(ssl), args);
  }

  TempDir dir_;
};

TEST_F(TlsTest, ServesOverTls) {
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.listeners[0].tls = ServerTls(false);
  auto server = MustStart(std::move(options), EchoDecider());
  ASSERT_TRUE(server);
  const std::string target = server->bound_addresses()[0];
  rls::RateLimitResponse response;
  grpc::Status status = Call(*TlsStub(target, false), Request("tls", "carol"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.statuses(0).current_limit().name(), "carol");
  // A plaintext client gets nowhere.
  EXPECT_FALSE(Call(*RlsStub(target), Request("tls", "carol"), &response).ok());
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutACertificate) {
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.listeners[0].tls = ServerTls(true);
  std::atomic<int> calls{0};
  auto server = MustStart(std::move(options), EchoDecider(&calls));
  ASSERT_TRUE(server);
  const std::string target = server->bound_addresses()[0];
  rls::RateLimitResponse response;
  grpc::Status with_cert = Call(*TlsStub(target, true), Request("mtls", "dave"), &response);
  ASSERT_TRUE(with_cert.ok()) << with_cert.error_message();
  EXPECT_EQ(response.statuses(0).current_limit().name(), "dave");
  grpc::Status without = Call(*TlsStub(target, false), Request("mtls", "eve"), &response);
  EXPECT_EQ(without.error_code(), grpc::StatusCode::UNAVAILABLE) << without.error_message();
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(TlsTest, KeyThatDoesNotMatchTheCertificateIsRefused) {
  GrpcServerOptions options = Options({"127.0.0.1:0"});
  options.listeners[0].tls = ServerTls(false);
  options.listeners[0].tls.key_file = dir_.File("client.key");
  auto server = GrpcServer::Start(std::move(options), EchoDecider());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("does not match"));
}

}  // namespace
}  // namespace sluice::daemon
