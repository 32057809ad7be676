// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// sluiced: parses flags and the configuration, starts the Daemon, and turns
// signals into its operations: SIGHUP reloads the rules, SIGTERM and SIGINT
// drain and stop (with a final checkpoint).

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/rules.h"
#include "sluice/file_system.h"
#include "sluice/observability.h"

namespace {

using sluice::LogLevel;

// The library's and the daemon's messages, through spdlog.
class SpdLogger : public sluice::Logger {
 public:
  explicit SpdLogger(std::shared_ptr<spdlog::logger> logger, LogLevel min) : logger_(std::move(logger)), min_(min) {}
  void Log(LogLevel level, std::string_view component, std::string_view message) override {
    if (level < min_) return;
    logger_->log(ToSpd(level), "[{}] {}", component, message);
  }
  bool Enabled(LogLevel level) const override { return level >= min_; }

 private:
  static spdlog::level::level_enum ToSpd(LogLevel level) {
    switch (level) {
      case LogLevel::kDebug:
        return spdlog::level::debug;
      case LogLevel::kInfo:
        return spdlog::level::info;
      case LogLevel::kWarning:
        return spdlog::level::warn;
      case LogLevel::kError:
        return spdlog::level::err;
    }
    return spdlog::level::info;
  }
  std::shared_ptr<spdlog::logger> logger_;
  LogLevel min_;
};

LogLevel ParseLevel(const std::string& level) {
  if (level == "debug") return LogLevel::kDebug;
  if (level == "warning") return LogLevel::kWarning;
  if (level == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"" + items[i] + "\"";
  }
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  sluice::Result<sluice::daemon::CommandLine> cl = sluice::daemon::ParseCommandLine(argc, argv);
  if (!cl.ok()) {
    // Exit 2 for a usage error (flags), 1 for a configuration that does not
    // validate.
    const std::string message(cl.status().message());
    std::fprintf(stderr, "sluiced: %s\n", message.c_str());
    return message.starts_with("command line:") ? 2 : 1;
  }
  if (cl->help) {
    std::fputs(sluice::daemon::CommandLineHelp().c_str(), stdout);
    return 0;
  }
  sluice::daemon::DaemonConfig& config = cl->config;
  if (cl->check_config) {
    if (!config.rules_directory.empty()) {
      auto rules = sluice::daemon::RuleSet::LoadDirectory(config.rules_directory,
                                                          sluice::daemon::RuleLoadOptions{config.merge_domains});
      if (!rules.ok()) {
        std::fprintf(stderr, "sluiced: %s\n", std::string(rules.status().message()).c_str());
        return 1;
      }
      std::printf("rules: %zu rules in %zu files\n", (*rules)->rules().size(), (*rules)->sources().size());
    }
    std::printf("configuration OK\n");
    return 0;
  }

  // The signals are handled by sigwait in this thread: block them before any
  // thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  spdlog::init_thread_pool(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto spd = std::make_shared<spdlog::async_logger>("sluiced", sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::overrun_oldest);
  if (config.log_format == "json") {
    spd->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%v"})", spdlog::pattern_time_type::utc);
  } else {
    spd->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  }
  spd->set_level(spdlog::level::debug);
  spd->flush_on(spdlog::level::info);
  SpdLogger logger(spd, ParseLevel(config.log_level));

  auto daemon = sluice::daemon::Daemon::Start(config, &logger);
  if (!daemon.ok()) {
    logger.Log(LogLevel::kError, "sluiced", "cannot start: " + daemon.status().ToString());
    spd->flush();
    spdlog::shutdown();
    return 1;
  }
  if (!cl->ready_file.empty()) {
    const std::string ready = fmt::format("{{\"http\":{},\"grpc\":{},\"pid\":{}}}\n",
                                          JsonList((*daemon)->http_addresses()),
                                          JsonList((*daemon)->grpc_addresses()), ::getpid());
    sluice::Status s = sluice::WriteFileAtomically(sluice::FileSystem::Default(), cl->ready_file, ready);
    if (!s.ok()) logger.Log(LogLevel::kError, "sluiced", "ready file: " + s.ToString());
  }

  int exit_code = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (*daemon)->ReloadRules("SIGHUP").IgnoreError();  // logged and counted by the daemon
      continue;
    }
    logger.Log(LogLevel::kInfo, "sluiced", sig == SIGTERM ? "SIGTERM received" : "SIGINT received");
    sluice::Status s = (*daemon)->Shutdown(std::chrono::seconds(10));
    if (!s.ok()) exit_code = 1;
    break;
  }
  daemon->reset();
  spd->flush();
  spdlog::shutdown();
  return exit_code;
}
