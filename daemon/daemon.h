// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Daemon: sluiced assembled from its configuration. Start() opens the store
// from its URI, restores the newest good checkpoint of an in-process store
// (logging what it restored and what it skipped), loads the rules, and binds
// the HTTP and gRPC listeners; from then on it reloads rules on request and
// when their files change (validated first; the old rules stay on any
// error), writes periodic checkpoints, and answers admin calls. Shutdown()
// stops accepting, drains in-flight requests, writes a final checkpoint and
// stops everything.
//
// Thread-safety: ReloadRules, CreateCheckpoint, Export, Import and the
// accessors are thread-safe; Shutdown once, from one thread.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/rules.h"
#include "daemon/service.h"
#include "sluice/checkpoint.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/state_export.h"
#include "sluice/store.h"

namespace sluice::daemon {

class Daemon {
 public:
  // `logger` receives the daemon's and the library's messages.
  static Result<std::unique_ptr<Daemon>> Start(DaemonConfig config, Logger* logger);
  ~Daemon();

  std::vector<std::string> http_addresses() const;
  std::vector<std::string> grpc_addresses() const;

  // Loads the rules directory again. On any error the current rules stay and
  // the error is returned (and logged and counted). `why` is logged.
  Status ReloadRules(std::string_view why);
  // kFailedPrecondition when the store has no checkpoints (not in-process or
  // no data directory).
  Result<CheckpointInfo> CreateCheckpoint();
  // Streams an export of every key to `sink`.
  Result<ExportReport> Export(WritableFile& sink, const ExportOptions& options);
  Result<ImportReport> Import(std::string_view stream, const ImportOptions& options);

  // Runs `work` on a thread the daemon joins in Shutdown (after the front
  // ends stopped), so background work such as a streamed export never
  // outlives the daemon.
  void RunInBackground(std::function<void()> work);

  // Ready: rules loaded (when a directory is configured) and the store healthy.
  Status Ready();

  // Stops accepting, waits up to `grace` for in-flight requests, writes the
  // final checkpoint and stops. Returns the final checkpoint's error, if any.
  Status Shutdown(std::chrono::milliseconds grace);

  const DaemonConfig& config() const;
  RateLimitService& service();
  DaemonMetrics& metrics();
  Logger& logger();
  // The admin token ("" when the admin API is disabled).
  const std::string& admin_token() const;

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::daemon
