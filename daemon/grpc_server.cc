// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/grpc_server.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "daemon/rls_proto.h"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sluice/status.h"

namespace sluice::daemon {
namespace {

namespace rls = envoy::service::ratelimit::v3;
namespace health = grpc::health::v1;

constexpr std::string_view kRlsServiceName = "envoy.service.ratelimit.v3.RateLimitService";
// envoyproxy/ratelimit registers its health status under this name; Envoy
// and Kubernetes probes written for it keep working.
constexpr std::string_view kUpstreamServiceName = "ratelimit";

grpc::StatusCode ToGrpcCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case StatusCode::kAborted: return grpc::StatusCode::ABORTED;
    case StatusCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kDataLoss: return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kNotSupported: return grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kInternal: return grpc::StatusCode::INTERNAL;
    case StatusCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
}

// One ShouldRateLimit call between its arrival and its answer. Whoever flips
// `answered` first finishes the call: the decider's `done`, or Stop for a
// call still unanswered when the grace period ends. The loser touches
// nothing, so a decider may answer after the server is gone.
struct CallState {
  grpc::ServerUnaryReactor* reactor = nullptr;
  rls::RateLimitResponse* response = nullptr;
  std::atomic<bool> answered{false};
};

// The calls in flight, so that Stop can finish those a decider still holds
// when the grace period ends (gRPC's Shutdown waits for every call to be
// finished, whatever its deadline says).
class CallRegistry {
 public:
  void Add(const std::shared_ptr<CallState>& call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.insert(call);
  }

  // REQUIRES: the caller won `call->answered`.
  void Remove(const std::shared_ptr<CallState>& call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.erase(call);
    if (calls_.empty()) empty_.notify_all();
  }

  // Waits until no call is in flight or `deadline` passes, then finishes
  // every call still unanswered with UNAVAILABLE.
  void DrainUntil(std::chrono::steady_clock::time_point deadline) {
    std::vector<std::shared_ptr<CallState>> abandoned;
    {
      std::unique_lock<std::mutex> lock(mu_);
      empty_.wait_until(lock, deadline, [this] { return calls_.empty(); });
      for (const auto& call : calls_) {
        if (!call->answered.exchange(true)) abandoned.push_back(call);
      }
      calls_.clear();
    }
    for (const auto& call : abandoned) {
      call->reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the rate limit service is shutting down"));
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable empty_;
  std::unordered_set<std::shared_ptr<CallState>> calls_;
};

// ShouldRateLimit: converts, hands the request to the decider and finishes
// the call whenever and wherever the decider answers.
class RlsService final : public rls::RateLimitService::CallbackService {
 public:
  RlsService(RlsDecider decider, CallRegistry* calls) : decider_(std::move(decider)), calls_(calls) {}

  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context,
                                            const rls::RateLimitRequest* request,
                                            rls::RateLimitResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Result<RlsRequest> parsed = FromProto(*request);
    if (!parsed.ok()) {
      reactor->Finish(ToGrpcStatus(parsed.status()));
      return reactor;
    }
    auto call = std::make_shared<CallState>();
    call->reactor = reactor;
    call->response = response;
    calls_->Add(call);
    CallRegistry* calls = calls_;
    // A call finishes exactly once: a decider that answers twice, answers
    // after Stop gave up on it, or throws after answering changes nothing.
    auto done = [call, calls](Result<RlsResponse> result) {
      if (call->answered.exchange(true)) return;
      calls->Remove(call);
      if (!result.ok()) {
        call->reactor->Finish(ToGrpcStatus(result.status()));
        return;
      }
      ToProto(*result, call->response);
      call->reactor->Finish(grpc::Status::OK);
    };
    auto fail = [&call, calls](const char* what) {
      if (call->answered.exchange(true)) return;
      calls->Remove(call);
      call->reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, what));
    };
    try {
      decider_(std::move(parsed).value(), std::move(done));
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("the decider failed");
    }
    return reactor;
  }

 private:
  RlsDecider decider_;
  CallRegistry* calls_;
};

// grpc.health.v1.Health/Check, answered from the live `serving` callback
// (grpc++'s built-in service only knows what it was last told). Watch is not
// offered (UNIMPLEMENTED); clients fall back to Check.
class HealthService final : public health::Health::CallbackService {
 public:
  explicit HealthService(std::function<bool()> serving) : serving_(std::move(serving)) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context, const health::HealthCheckRequest* request,
                                  health::HealthCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const std::string& service = request->service();
    if (!service.empty() && service != kRlsServiceName && service != kUpstreamServiceName) {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service '" + service + "'"));
      return reactor;
    }
    bool up = true;
    if (serving_) {
      try {
        up = serving_();
      } catch (...) {
        up = false;
      }
    }
    response->set_status(up ? health::HealthCheckResponse::SERVING : health::HealthCheckResponse::NOT_SERVING);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::function<bool()> serving_;
};

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(what) + " '" + path + "' cannot be read: " + std::strerror(errno));
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status(StatusCode::kInvalidArgument, std::string(what) + " '" + path + "' cannot be read");
  return content;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::unique_ptr<X509, X509Deleter> FirstCertificate(const std::string& pem) {
  auto bio = MemBio(pem);
  if (!bio) return nullptr;
  return std::unique_ptr<X509, X509Deleter>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// gRPC reports an unusable certificate only as a failed start; checking the
// files here lets the error name the file and the problem.
Result<grpc::SslServerCredentialsOptions> LoadTls(const TlsSettings& tls) {
  SLUICE_ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(tls.cert_file, "TLS certificate file"));
  SLUICE_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(tls.key_file, "TLS key file"));
  auto cert = FirstCertificate(cert_pem);
  if (!cert) {
    return Status(StatusCode::kInvalidArgument,
                  "TLS certificate file '" + tls.cert_file + "' holds no PEM certificate");
  }
  auto key_bio = MemBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    return Status(StatusCode::kInvalidArgument,
                  "TLS key file '" + tls.key_file + "' holds no PEM private key (or it is encrypted)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Status(StatusCode::kInvalidArgument, "TLS key file '" + tls.key_file +
                                                    "' does not match the certificate in '" + tls.cert_file + "'");
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca_file.empty()) {
    SLUICE_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(tls.client_ca_file, "TLS client CA file"));
    if (!FirstCertificate(ca_pem)) {
      return Status(StatusCode::kInvalidArgument,
                    "TLS client CA file '" + tls.client_ca_file + "' holds no PEM certificate");
    }
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    options.pem_root_certs = std::move(ca_pem);
  }
  options.pem_key_cert_pairs.push_back({std::move(key_pem), std::move(cert_pem)});
  return options;
}

std::string HostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// One listener as gRPC takes it, and where its real port will be written.
struct PortSpec {
  ListenAddress address;
  std::string grpc_address;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  int selected_port = 0;
};

int ClampToInt(size_t v) { return v > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(v); }

}  // namespace

struct GrpcServer::Impl {
  Impl(RlsDecider decider, std::function<bool()> serving)
      : rls_service(std::move(decider), &calls), health_service(std::move(serving)) {}

  CallRegistry calls;
  RlsService rls_service;
  HealthService health_service;
  // Declared after the services: destroyed (and shut down) before them.
  std::unique_ptr<grpc::Server> server;
  std::vector<std::string> bound;
  std::mutex mu;
  bool stopped = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(GrpcServerOptions options, RlsDecider decider) {
  if (!decider) return Status(StatusCode::kInvalidArgument, "gRPC server: no decider");
  // Debian's Abseil tracks the lock order of every Mutex gRPC takes (a
  // deadlock detector meant for debug builds), a few percent of the CPU of
  // each call; a server has no use for it.
  static std::once_flag quiet_mutexes;
  std::call_once(quiet_mutexes, [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  std::vector<PortSpec> ports;
  for (const ListenerSettings& listener : options.listeners) {
    if (listener.address.empty()) continue;  // this listener is off
    auto parsed = ParseListenAddress(listener.address);
    if (!parsed.ok()) return parsed.status().WithContext("gRPC listener");
    PortSpec& spec = ports.emplace_back();
    spec.address = std::move(parsed).value();
    spec.grpc_address = spec.address.is_unix ? "unix:" + spec.address.path
                                             : HostPort(spec.address.host, spec.address.port);
    if (listener.tls.enabled()) {
      auto tls = LoadTls(listener.tls);
      if (!tls.ok()) return tls.status().WithContext("gRPC listener " + listener.address);
      spec.credentials = grpc::SslServerCredentials(*tls);
    } else if (!listener.tls.cert_file.empty() || !listener.tls.key_file.empty() ||
               !listener.tls.client_ca_file.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "gRPC listener " + listener.address + ": TLS needs both a certificate and a key file");
    } else {
      spec.credentials = grpc::InsecureServerCredentials();
    }
  }
  if (ports.empty()) return Status(StatusCode::kInvalidArgument, "gRPC server: no listen address");

  auto impl = std::make_unique<Impl>(std::move(decider), std::move(options.serving));
  // Server reflection (grpc.reflection.v1alpha) lets generic tools list and
  // call the services without our .proto files. Registering it twice is a
  // no-op.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second daemon bind
  // the same port and silently share its traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(ClampToInt(options.limits.max_body_bytes));
  // The HTTP limits that have an HTTP/2 counterpart: request headers
  // (metadata), connections idle for too long, and a connection that does
  // not finish its handshake in time (slowloris).
  if (options.limits.max_header_bytes > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, ClampToInt(options.limits.max_header_bytes));
  }
  if (options.limits.idle_timeout.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               ClampToInt(static_cast<size_t>(options.limits.idle_timeout.count())));
  }
  if (options.limits.request_timeout.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               ClampToInt(static_cast<size_t>(options.limits.request_timeout.count())));
  }
  for (PortSpec& spec : ports) builder.AddListeningPort(spec.grpc_address, spec.credentials, &spec.selected_port);
  builder.RegisterService(&impl->rls_service);
  builder.RegisterService(&impl->health_service);
  impl->server = builder.BuildAndStart();

  std::vector<std::string> failed;
  for (const PortSpec& spec : ports) {
    if (spec.selected_port == 0) failed.push_back(spec.grpc_address);
  }
  if (!impl->server || !failed.empty()) {
    if (impl->server) impl->server->Shutdown(std::chrono::system_clock::now());
    std::string which;
    for (const std::string& a : failed) which += (which.empty() ? "" : ", ") + a;
    return Status(StatusCode::kUnavailable,
                  "gRPC server could not listen on " + (which.empty() ? std::string("its addresses") : which) +
                      " (address in use, not local, or no permission)");
  }
  for (const PortSpec& spec : ports) {
    impl->bound.push_back(spec.address.is_unix ? spec.grpc_address : HostPort(spec.address.host, spec.selected_port));
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

std::vector<std::string> GrpcServer::bound_addresses() const { return impl_->bound; }

void GrpcServer::Stop(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Shutdown stops accepting at once and cancels what still runs at the
  // deadline, but returns only when every call has been finished; the calls
  // a decider still holds then are finished by DrainUntil, so a slow decider
  // cannot hold Stop past `grace`.
  const auto deadline = std::chrono::system_clock::now() + grace;
  std::thread shutdown([this, deadline] { impl_->server->Shutdown(deadline); });
  impl_->calls.DrainUntil(std::chrono::steady_clock::now() + grace);
  shutdown.join();
  impl_->server->Wait();
}

}  // namespace sluice::daemon
