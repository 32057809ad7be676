// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "daemon/grpc_server.h"
#include "daemon/http_api.h"
#include "daemon/http_server.h"
#include "sluice/file_system.h"
#include "sluice/resilient_store.h"
#include "sluice/status.h"
#include "sluice/store_uri.h"
#ifdef SLUICE_DAEMON_HAVE_ZSTD
#include "sluice/zstd.h"
#endif

namespace sluice::daemon {
namespace {

// What the rules watcher compares: every rule file's name, size and
// modification time. A change to any of them triggers a reload.
std::string DirectoryFingerprint(const std::string& dir) {
  std::vector<std::string> parts;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    parts.push_back(fmt::format("{}:{}:{}.{}", name, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
  }
  if (ec) return "error:" + ec.message();
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const std::string& p : parts) out += p + "\n";
  return out;
}

Result<std::string> ReadTokenFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return NotFoundError("admin token file " + path + ": cannot open");
  std::string token;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && token.size() < 65536) token.append(buf, n);
  std::fclose(f);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) {
    return InvalidArgumentError("admin token file " + path + ": the token must be at least 16 characters");
  }
  return token;
}

constexpr MetricLabel kSuccessLabel[] = {{"result", "success"}};
constexpr MetricLabel kFailureLabel[] = {{"result", "failure"}};
constexpr MetricLabels kSuccess{kSuccessLabel};
constexpr MetricLabels kFailure{kFailureLabel};

}  // namespace

struct Daemon::Impl {
  DaemonConfig config;
  Logger* logger = nullptr;
  DaemonMetrics metrics;
  std::shared_ptr<Store> store;
  // The store as wrapped for a remote store (also `store`); null otherwise.
  std::shared_ptr<ResilientStore> resilient;
  bool in_process = false;
  std::unique_ptr<CheckpointCoordinator> checkpoints;
  std::shared_ptr<const Compression> compression;
  std::unique_ptr<RateLimitService> service;
  std::unique_ptr<HttpApi> http_api;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<GrpcServer> grpc;
  std::string admin_token;

  std::mutex reload_mu;  // one reload at a time
  std::string rules_fingerprint;
  bool rules_loaded = false;

  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stopping = false;
  std::thread watcher;
  bool shut_down = false;

  std::mutex background_mu;
  std::vector<std::thread> background;

  void Log(LogLevel level, std::string_view message) { logger->Log(level, "sluiced", message); }

  Status LoadRules(std::string_view why) {
    std::lock_guard lock(reload_mu);
    if (config.rules_directory.empty()) return Status::Ok();
    const std::string fingerprint = DirectoryFingerprint(config.rules_directory);
    Result<std::shared_ptr<const RuleSet>> rules =
        RuleSet::LoadDirectory(config.rules_directory, RuleLoadOptions{config.merge_domains});
    if (!rules.ok()) {
      metrics.Increment("sluiced_rules_reloads_total", kFailure, 1);
      Log(LogLevel::kError, fmt::format("rules reload ({}) failed, keeping the rules in effect: {}", why,
                                        rules.status().ToString()));
      return rules.status();
    }
    rules_fingerprint = fingerprint;
    service->SetRules(*rules);
    rules_loaded = true;
    metrics.Increment("sluiced_rules_reloads_total", kSuccess, 1);
    metrics.SetGauge("sluiced_rules_loaded", {}, static_cast<double>((*rules)->rules().size()));
    Log(LogLevel::kInfo, fmt::format("rules loaded ({}): {} rules from {} files in {}", why, (*rules)->rules().size(),
                                     (*rules)->sources().size(), config.rules_directory));
    return Status::Ok();
  }

  void WatchLoop() {
    std::unique_lock lock(watch_mu);
    while (!stopping) {
      watch_cv.wait_for(lock, config.rules_watch_interval);
      if (stopping) break;
      lock.unlock();
      std::string current = DirectoryFingerprint(config.rules_directory);
      bool changed;
      {
        std::lock_guard reload_lock(reload_mu);
        changed = current != rules_fingerprint;
      }
      if (changed) {
        Status s = LoadRules("rule files changed");
        if (!s.ok()) {
          // Do not retry the same broken files every interval: wait for the
          // next change.
          std::lock_guard reload_lock(reload_mu);
          rules_fingerprint = current;
        }
      }
      lock.lock();
    }
  }

};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() {
  if (!impl_->shut_down) Shutdown(std::chrono::milliseconds(0)).IgnoreError();
}

Result<std::unique_ptr<Daemon>> Daemon::Start(DaemonConfig config, Logger* logger) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->logger = logger != nullptr ? logger : &Logger::Default();
  const DaemonConfig& c = impl->config;
  const Observer observer{impl->logger, &impl->metrics};

  if (!c.admin_token_file.empty()) {
    SLUICE_ASSIGN_OR_RETURN(impl->admin_token, ReadTokenFile(c.admin_token_file));
  }

  SLUICE_ASSIGN_OR_RETURN(StoreUri uri, ParseStoreUri(c.store_uri));
  impl->in_process = IsInProcessStore(uri);
  StoreOpenOptions open_options;
  open_options.observer = observer;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(c.store_uri, open_options));
  impl->store = std::shared_ptr<Store>(std::move(store));
  impl->Log(LogLevel::kInfo, fmt::format("store {} opened", c.store_uri));
  if (IsRemoteStore(uri) && c.resilience_enabled) {
    ResilientStoreOptions ro = c.ResilienceOptions();
    ro.name = std::string(impl->store->name());
    ro.observer = observer;
    ro.seed = std::random_device{}();  // instances retry out of step
    if (ro.fallback.discover_instances && c.store_fallback.instance_id.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "sluiced");
      ro.fallback.instance_id = fmt::format("{}:{}", host, ::getpid());
    }
    for (const auto& [domain, mode] : c.failure_mode_by_domain) {
      for (std::string& prefix : DomainStoreKeyPrefixes(domain)) {
        ro.fail_mode_overrides.push_back(FailModeRule{std::move(prefix), mode});
      }
    }
    SLUICE_ASSIGN_OR_RETURN(impl->resilient, NewResilientStore(impl->store, std::move(ro)));
    impl->store = impl->resilient;
  }

  if (c.checkpoint_compression == "zstd") {
#ifdef SLUICE_DAEMON_HAVE_ZSTD
    SLUICE_ASSIGN_OR_RETURN(impl->compression, zstd::Create());
#else
    return NotSupportedError("checkpoint.compression zstd: this build has no zstd");
#endif
  }
  if (impl->in_process && !c.data_dir.empty()) {
    CheckpointOptions cp;
    cp.directory = JoinPath(c.data_dir, "checkpoints");
    cp.interval = c.checkpoint_interval;
    cp.min_pause = std::min<std::chrono::nanoseconds>(c.checkpoint_interval, std::chrono::seconds(1));
    cp.retain = static_cast<size_t>(c.checkpoint_retain);
    cp.save_retry = c.checkpoint_save_retry;
    cp.load_retry = c.checkpoint_load_retry;
    cp.on_load_failure = c.checkpoint_on_load_failure;
    cp.compression = impl->compression;
#ifdef SLUICE_DAEMON_HAVE_ZSTD
    if (!impl->compression) {
      Result<std::shared_ptr<const Compression>> z = zstd::Create();
      if (z.ok()) cp.readable_compressions.push_back(*z);
    }
#endif
    cp.observer = observer;
    std::error_code ec;
    std::filesystem::create_directories(cp.directory, ec);
    if (ec) return UnavailableError("data directory " + cp.directory + ": " + ec.message());
    SLUICE_ASSIGN_OR_RETURN(impl->checkpoints, CheckpointCoordinator::Create(impl->store, cp));
    SLUICE_ASSIGN_OR_RETURN(RestoreReport report, impl->checkpoints->RestoreLatest());
    for (const SkippedCheckpoint& s : report.skipped) {
      impl->Log(LogLevel::kWarning,
                fmt::format("checkpoint {} skipped: {}", s.info.name, s.reason.ToString()));
    }
    if (report.checkpoint.has_value()) {
      impl->Log(LogLevel::kInfo, fmt::format("restored checkpoint {}: {} keys restored, {} expired, {} invalid",
                                             report.checkpoint->name, report.restored, report.expired,
                                             report.invalid));
    } else {
      impl->Log(LogLevel::kInfo, fmt::format("no checkpoint in {}: starting empty", cp.directory));
    }
  } else if (impl->in_process) {
    impl->Log(LogLevel::kWarning, "no data directory: the in-memory state is lost when sluiced stops");
  }

  ServiceOptions so;
  so.store = impl->store.get();
  so.remote_store = IsRemoteStore(uri);
  // The resilience layer answers by the store deadline; the service's own
  // deadline is a backstop a little later, for calls that waited in its queue.
  so.deadline = impl->resilient ? c.store_deadline + std::max(std::chrono::milliseconds(10), c.store_deadline / 2)
                                : c.store_deadline;
  so.workers = c.store_workers;
  so.max_queued = c.store_max_queued;
  so.failure_mode = c.failure_mode;
  so.shadow_mode = c.shadow_mode;
  so.quota_mode = c.quota_mode;
  so.all_or_nothing = c.all_or_nothing;
  so.near_limit_ratio = c.near_limit_ratio;
  so.response_headers = c.grpc_response_headers;
  so.header_mode = c.header_mode == HeaderMode::kNone ? HeaderMode::kDraft : c.header_mode;
  so.x_ratelimit_reset_epoch = c.x_ratelimit_reset_epoch;
  so.dynamic_metadata = c.grpc_dynamic_metadata;
  so.limits = c.limits;
  so.metrics = &impl->metrics;
  SLUICE_ASSIGN_OR_RETURN(impl->service, RateLimitService::Create(so));

  if (!c.rules_directory.empty()) {
    SLUICE_RETURN_IF_ERROR(impl->LoadRules("start"));
  } else {
    impl->Log(LogLevel::kWarning, "no rules directory: only /v1/decide with explicit limits decides anything");
  }

  Impl* raw = impl.get();
  const bool remote = IsRemoteStore(uri);
  impl->metrics.AddCollector([raw, remote](MetricsSink& sink) {
    if (raw->resilient) {
      const ResilienceStats rs = raw->resilient->GetResilienceStats();
      const std::string name(raw->resilient->options().name);
      const MetricLabel store_label[] = {{"store", name}};
      sink.SetGauge("sluice_resilience_in_flight", store_label, static_cast<double>(rs.in_flight));
      sink.SetGauge("sluice_resilience_busy_workers", store_label, static_cast<double>(rs.busy_workers));
      sink.SetGauge("sluice_resilience_debt_units", store_label, static_cast<double>(rs.debt_units));
      sink.SetGauge("sluice_resilience_debt_keys", store_label, static_cast<double>(rs.debt_keys));
      const MetricLabel breaker_label[] = {{"breaker", name}};
      sink.SetGauge("sluice_circuit_breaker_state", breaker_label, raw->resilient->breaker().gauge_value());
    }
    // A scrape must answer at once even when a remote store hangs, so only
    // stores in this process report their key count here.
    if (!remote) {
      const StoreStats stats = raw->store->Stats();
      sink.SetGauge("sluiced_store_keys", {}, static_cast<double>(stats.keys));
    }
    if (raw->checkpoints) {
      const CheckpointStats cs = raw->checkpoints->stats();
      sink.SetGauge("sluiced_checkpoint_last_success_timestamp_seconds", {},
                    static_cast<double>(cs.last_success_ns) / 1e9);
    }
  });

  std::unique_ptr<Daemon> daemon(new Daemon(std::move(impl)));
  Impl& d = *daemon->impl_;
  d.http_api = std::make_unique<HttpApi>(*daemon);

  if (!c.http_listeners.empty()) {
    HttpServerOptions ho;
    ho.listeners = c.http_listeners;
    ho.limits = c.limits;
    ho.io_threads = c.http_io_threads;
    SLUICE_ASSIGN_OR_RETURN(d.http, HttpServer::Start(ho, d.http_api.get()));
  }
  if (!c.grpc_listeners.empty()) {
    GrpcServerOptions go;
    go.listeners = c.grpc_listeners;
    go.limits = c.limits;
    go.serving = [raw] { return raw->rules_loaded || raw->config.rules_directory.empty(); };
    RateLimitService* service = d.service.get();
    SLUICE_ASSIGN_OR_RETURN(d.grpc, GrpcServer::Start(go, [service](RlsRequest request,
                                                                     std::function<void(Result<RlsResponse>)> done) {
                              service->ShouldRateLimit(std::move(request), std::move(done), "grpc");
                            }));
  }
  if (d.checkpoints) SLUICE_RETURN_IF_ERROR(d.checkpoints->Start());
  if (!c.rules_directory.empty() && c.rules_watch) {
    d.watcher = std::thread([raw] { raw->WatchLoop(); });
  }
  d.Log(LogLevel::kInfo, fmt::format("listening: http [{}] grpc [{}]", fmt::join(daemon->http_addresses(), ", "),
                                     fmt::join(daemon->grpc_addresses(), ", ")));
  return daemon;
}

std::vector<std::string> Daemon::http_addresses() const {
  return impl_->http ? impl_->http->bound_addresses() : std::vector<std::string>{};
}

std::vector<std::string> Daemon::grpc_addresses() const {
  return impl_->grpc ? impl_->grpc->bound_addresses() : std::vector<std::string>{};
}

Status Daemon::ReloadRules(std::string_view why) {
  if (impl_->config.rules_directory.empty()) {
    return FailedPreconditionError("no rules directory is configured");
  }
  return impl_->LoadRules(why);
}

Result<CheckpointInfo> Daemon::CreateCheckpoint() {
  if (!impl_->checkpoints) {
    return FailedPreconditionError(impl_->in_process
                                       ? "checkpoints need a data directory (data_dir / --data-dir)"
                                       : "the store keeps its own state; checkpoints are for the in-memory store");
  }
  return impl_->checkpoints->CreateCheckpoint();
}

Result<ExportReport> Daemon::Export(WritableFile& sink, const ExportOptions& options) {
  return ExportStore(*impl_->store, "", sink, options);
}

Result<ImportReport> Daemon::Import(std::string_view stream, const ImportOptions& options) {
  ImportOptions o = options;
  if (impl_->compression) o.compressions.push_back(impl_->compression);
  return ImportStoreFromString(*impl_->store, stream, o);
}

void Daemon::RunInBackground(std::function<void()> work) {
  std::lock_guard lock(impl_->background_mu);
  impl_->background.emplace_back(std::move(work));
}

Status Daemon::Ready() {
  if (!impl_->config.rules_directory.empty() && !impl_->rules_loaded) {
    return UnavailableError("rules are not loaded");
  }
  Status s = impl_->service->StoreHealth();
  if (!s.ok()) return UnavailableError("store: " + s.ToString());
  return Status::Ok();
}

Status Daemon::Shutdown(std::chrono::milliseconds grace) {
  Impl& d = *impl_;
  if (d.shut_down) return Status::Ok();
  d.shut_down = true;
  d.Log(LogLevel::kInfo, "shutting down: draining in-flight requests");
  {
    std::lock_guard lock(d.watch_mu);
    d.stopping = true;
  }
  d.watch_cv.notify_all();
  if (d.watcher.joinable()) d.watcher.join();
  if (d.http) d.http->StopAccepting();
  if (d.grpc) d.grpc->Stop(grace);
  if (d.http) d.http->Stop(grace);
  d.service->Shutdown();
  {
    // The front ends are stopped, so every streamed export has lost its
    // reader and ends.
    std::vector<std::thread> background;
    {
      std::lock_guard lock(d.background_mu);
      background.swap(d.background);
    }
    for (std::thread& t : background) t.join();
  }
  Status result;
  if (d.checkpoints) {
    result = d.checkpoints->Stop();
    if (result.ok()) {
      d.Log(LogLevel::kInfo, fmt::format("final checkpoint written ({} keys)", d.checkpoints->stats().last_entries));
    } else {
      d.Log(LogLevel::kError, "final checkpoint failed: " + result.ToString());
    }
  }
  Status flushed = d.store->Flush();
  if (!flushed.ok() && flushed.code() != StatusCode::kNotSupported) {
    d.Log(LogLevel::kWarning, "store flush at shutdown failed: " + flushed.ToString());
  }
  d.Log(LogLevel::kInfo, "stopped");
  return result;
}

const DaemonConfig& Daemon::config() const { return impl_->config; }
RateLimitService& Daemon::service() { return *impl_->service; }
DaemonMetrics& Daemon::metrics() { return impl_->metrics; }
Logger& Daemon::logger() { return *impl_->logger; }
const std::string& Daemon::admin_token() const { return impl_->admin_token; }

}  // namespace sluice::daemon
