// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "internal/backoff.h"
#include "internal/expiry.h"
#include "persist/checkpoint_format.h"
#include "sluice/checkpoint.h"
#include "util/crc32c.h"

namespace sluice {
namespace {

constexpr std::string_view kComponent = "checkpoint";
// The periodic thread re-reads the clock at least this often (real time), so
// a simulated clock that was advanced is noticed without a wake-up call.
constexpr std::chrono::milliseconds kMaxIdleWait{50};
constexpr size_t kMaxInvalidReasons = 5;

std::string Ms(std::chrono::nanoseconds d) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100) + " ms";
}

// Whether repeating a failed save or read may help: I/O errors and a store
// that is briefly away may pass; bad options, a lost lock, a missing codec or
// corrupt data will not.
bool WorthRetrying(const Status& s) {
  switch (s.code()) {
    case StatusCode::kDataLoss:  // corrupt data reads the same the next time
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kNotSupported:
    case StatusCode::kInternal:
      return false;
    default:
      return true;
  }
}

// The retry schedule as the shared backoff takes it (the seed is drawn per use).
internal::BackoffOptions ToBackoff(const CheckpointRetryOptions& r) {
  internal::BackoffOptions b;
  b.initial = r.initial_delay;
  b.max_delay = r.max_delay;
  b.multiplier = r.multiplier;
  b.max_attempts = r.max_attempts;
  return b;
}

class CoordinatorImpl final : public CheckpointCoordinator {
 public:
  CoordinatorImpl(std::shared_ptr<Store> store, CheckpointOptions options, std::shared_ptr<CheckpointTarget> target)
      : store_(std::move(store)),
        options_(std::move(options)),
        target_(std::move(target)),
        clock_(options_.clock != nullptr ? *options_.clock : store_->clock()),
        seeds_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {
    if (options_.compression != nullptr) options_.readable_compressions.push_back(options_.compression);
  }

  ~CoordinatorImpl() override {
    bool running;
    {
      std::lock_guard<std::mutex> lock(thread_mu_);
      running = started_ && !stopped_;
    }
    if (running) {
      Status s = Stop();
      if (!s.ok()) Log(LogLevel::kError, "final checkpoint at destruction failed: " + s.ToString());
    }
  }

  Result<RestoreReport> RestoreLatest() override {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    RestoreReport report;
    internal::Backoff backoff(BackoffFor(options_.load_retry), clock_);
    // Each read (the listing and every checkpoint) gets the configured attempts.
    auto with_retries = [&](auto&& fn) {
      backoff.Reset();
      while (true) {
        ++report.attempts;
        auto r = fn();
        if (r.ok() || !WorthRetrying(r.status()) || !backoff.CanRetry()) return r;
        const auto wait = backoff.Wait();
        Log(LogLevel::kWarning, "reading from " + target_->Describe() + " failed (" + r.status().ToString() +
                                    "); retried after " + Ms(wait));
        Metrics().Increment("sluice_checkpoint_load_retries_total");
      }
    };

    Result<std::vector<CheckpointInfo>> list = with_retries([&] { return target_->List(); });
    if (!list.ok()) return LoadFailed(std::move(report), list.status().WithContext("listing checkpoints"));
    for (const CheckpointInfo& c : *list) next_id_ = std::max(next_id_, c.id + 1);
    if (list->empty()) {
      restored_.store(true);
      Log(LogLevel::kInfo, "no checkpoint in " + target_->Describe() + "; starting empty");
      return report;
    }
    for (const CheckpointInfo& info : *list) {
      Result<std::string> bytes = with_retries([&] { return target_->Read(info); });
      Result<internal::CheckpointHeader> header =
          bytes.ok() ? Check(info, *bytes) : Result<internal::CheckpointHeader>(bytes.status());
      Status s = header.status();
      if (header.ok()) {
        RestoreReport attempt = report;
        s = Apply(*bytes, *header, info, &attempt);
        if (s.ok()) {
          report = std::move(attempt);
          restore_refused_.store(false);
          restored_.store(true);
          Restored(report);
          return report;
        }
        if (s.code() != StatusCode::kDataLoss && s.code() != StatusCode::kInvalidArgument) {
          // The store failed, not the checkpoint: an older one would fail the same way.
          return LoadFailed(std::move(report), s.WithContext("restoring " + info.name));
        }
      }
      Log(LogLevel::kWarning, "skipped checkpoint " + info.name + ": " + s.ToString());
      Metrics().Increment("sluice_checkpoint_skipped_total");
      report.skipped.push_back({info, s});
    }
    return LoadFailed(std::move(report),
                      DataLossError("none of the " + std::to_string(list->size()) + " checkpoints in " +
                                    target_->Describe() + " could be restored; newest: " +
                                    report.skipped.front().reason.ToString()));
  }

  Result<CheckpointInfo> CreateCheckpoint() override {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    if (restore_refused_.load()) {
      // The store does not hold the state the target's checkpoints hold: a
      // new checkpoint would become the newest and retention would remove
      // the ones that could not be loaded.
      return FailedPreconditionError("RestoreLatest() refused to start; no checkpoint is written over " +
                                     target_->Describe() + " until a restore succeeds");
    }
    internal::Backoff backoff(BackoffFor(options_.save_retry), clock_);
    while (true) {
      const Clock::Monotonic start = clock_.MonotonicNow();
      Result<CheckpointInfo> r = WriteOnce();
      const Clock::Monotonic end = clock_.MonotonicNow();
      const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start);
      {
        std::lock_guard<std::mutex> stats_lock(stats_mu_);
        last_start_ = start;
        last_end_ = end;
        if (r.ok()) {
          ++stats_.created;
          stats_.last_id = r->id;
          stats_.last_duration = duration;
          stats_.last_bytes = r->size_bytes;
          stats_.last_entries = r->entries;
          stats_.last_success_ns = clock_.NowNanos();
        }
      }
      if (r.ok()) {
        Metrics().Increment("sluice_checkpoint_created_total");
        Metrics().Observe("sluice_checkpoint_duration_seconds", {}, duration);
        Metrics().SetGauge("sluice_checkpoint_bytes", {}, static_cast<double>(r->size_bytes));
        Metrics().SetGauge("sluice_checkpoint_entries", {}, static_cast<double>(r->entries));
        Log(LogLevel::kInfo, "wrote checkpoint " + r->name + ": " + std::to_string(r->entries) + " entries, " +
                                 std::to_string(r->size_bytes) + " bytes in " + Ms(duration));
        return r;
      }
      if (!WorthRetrying(r.status()) || !backoff.CanRetry()) {
        {
          std::lock_guard<std::mutex> stats_lock(stats_mu_);
          ++stats_.failed;
        }
        Metrics().Increment("sluice_checkpoint_failures_total");
        Log(LogLevel::kError, "checkpoint to " + target_->Describe() + " failed after " +
                                  std::to_string(backoff.retries() + 1) + " attempt(s): " + r.status().ToString());
        return r;
      }
      const auto wait = backoff.Wait();
      {
        std::lock_guard<std::mutex> stats_lock(stats_mu_);
        ++stats_.retries;
      }
      Metrics().Increment("sluice_checkpoint_retries_total");
      Log(LogLevel::kWarning, "checkpoint attempt failed (" + r.status().ToString() + "); retried after " + Ms(wait));
    }
  }

  Status Start() override {
    std::lock_guard<std::mutex> lock(thread_mu_);
    if (started_) return FailedPreconditionError("checkpoint coordinator started twice");
    if (stopped_) return FailedPreconditionError("checkpoint coordinator already stopped");
    started_ = true;
    {
      std::lock_guard<std::mutex> stats_lock(stats_mu_);
      if (last_start_ == Clock::Monotonic{}) last_start_ = last_end_ = clock_.MonotonicNow();
    }
    if (options_.interval.count() > 0) thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  Status Stop() override {
    bool started = false;
    {
      std::lock_guard<std::mutex> lock(thread_mu_);
      if (stopped_) return Status::Ok();
      stopped_ = true;
      started = started_;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    // Only a coordinator whose store was restored (RestoreLatest) or that
    // served (Start) has state worth a final checkpoint; one that never
    // loaded anything would replace the checkpoints with an empty one.
    if (!options_.checkpoint_on_stop || !(started || restored_.load())) return Status::Ok();
    return CreateCheckpoint().status();
  }

  CheckpointStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

 private:
  MetricsSink& Metrics() const { return options_.observer.sink(); }
  void Log(LogLevel level, const std::string& message) const {
    Logger& log = options_.observer.log();
    if (log.Enabled(level)) log.Log(level, kComponent, message);
  }

  internal::BackoffOptions BackoffFor(const CheckpointRetryOptions& r) {
    internal::BackoffOptions b = ToBackoff(r);
    b.seed = seeds_();
    return b;
  }

  // One attempt: a fresh checkpoint id (so a retry never reuses a file whose
  // write or fsync failed), scan, encode, commit. REQUIRES: checkpoint_mu_.
  Result<CheckpointInfo> WriteOnce() {
    if (next_id_ == 0) {
      SLUICE_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> list, target_->List());
      next_id_ = 1;
      for (const CheckpointInfo& c : list) next_id_ = std::max(next_id_, c.id + 1);
    }
    const uint64_t id = next_id_++;
    const int64_t now = clock_.NowNanos();
    SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSink> sink, target_->Begin(id));
    internal::CheckpointHeader header{id, now, "", std::string(store_->name())};
    internal::CheckpointEncoder encoder(header, options_.compression.get(),
                                        [&](std::string_view piece) { return sink->Append(piece); });
    SLUICE_RETURN_IF_ERROR(encoder.Start());
    Status add;
    const std::optional<std::string> own_key = target_->KeyIn(*store_);
    SLUICE_RETURN_IF_ERROR(store_->Scan(options_.prefix, [&](const Record& record) {
      if (internal::IsExpired(record.expires_at_ns, now)) return true;  // expired: not worth keeping
      if (own_key.has_value() && record.key == *own_key) return true;  // the previous checkpoint itself
      add = encoder.Add(record);
      return add.ok();
    }));
    SLUICE_RETURN_IF_ERROR(add);
    SLUICE_RETURN_IF_ERROR(encoder.Finish());
    CheckpointInfo info;
    info.id = id;
    info.name = sink->name();
    info.size_bytes = encoder.bytes();
    info.entries = encoder.records();
    info.created_ns = now;
    info.crc32c = encoder.crc();
    SLUICE_RETURN_IF_ERROR(sink->Commit(info, options_.retain));
    return info;
  }

  // Checks bytes against what the target's listing promised and the file's
  // own framing and checksums; returns its header.
  Result<internal::CheckpointHeader> Check(const CheckpointInfo& info, const std::string& bytes) {
    if (info.size_bytes != 0 && bytes.size() != info.size_bytes) {
      return DataLossError("size " + std::to_string(bytes.size()) + " differs from the manifest's " +
                           std::to_string(info.size_bytes));
    }
    uint32_t crc = 0;
    Result<internal::CheckpointHeader> header = internal::VerifyCheckpoint(bytes, &crc);
    if (!header.ok()) return header.status();
    if (info.crc32c.has_value() && crc != *info.crc32c) return DataLossError("checksum differs from the manifest's");
    if (info.id != 0 && header->id != info.id) {
      return DataLossError("holds checkpoint " + std::to_string(header->id) + ", expected " +
                           std::to_string(info.id));
    }
    return header;
  }

  // Puts the records of a verified checkpoint into the store.
  Status Apply(const std::string& bytes, const internal::CheckpointHeader& header, const CheckpointInfo& info,
               RestoreReport* report) {
    const int64_t now = clock_.NowNanos();
    // Decode the whole body once before writing anything: a checkpoint that
    // fails part way (a wrong count, a record that does not decode) is then
    // skipped without leaving half of it in the store.
    SLUICE_RETURN_IF_ERROR(internal::DecodeCheckpoint(bytes, options_.readable_compressions,
                                                      options_.max_restore_bytes, [](Record&&) { return true; }));
    Status store_error;
    Status s = internal::DecodeCheckpoint(
        bytes, options_.readable_compressions, options_.max_restore_bytes, [&](Record&& record) {
          if (internal::IsExpired(record.expires_at_ns, now)) {
            ++report->expired;
            return true;
          }
          Status put = store_->Put(record);
          if (put.ok()) {
            ++report->restored;
          } else if (put.code() == StatusCode::kInvalidArgument) {
            ++report->invalid;
            if (report->invalid_reasons.size() < kMaxInvalidReasons) {
              report->invalid_reasons.push_back(put.ToString());
            }
          } else {
            store_error = put;
            return false;
          }
          return true;
        });
    if (!store_error.ok()) return store_error;
    SLUICE_RETURN_IF_ERROR(s);
    CheckpointInfo restored = info;
    restored.id = header.id;
    restored.created_ns = header.created_ns;
    restored.size_bytes = bytes.size();
    restored.entries = report->restored + report->expired + report->invalid;
    report->checkpoint = std::move(restored);
    return Status::Ok();
  }

  void Restored(const RestoreReport& report) {
    Metrics().SetGauge("sluice_checkpoint_restored_entries", {}, static_cast<double>(report.restored));
    Log(report.skipped.empty() && report.invalid == 0 ? LogLevel::kInfo : LogLevel::kWarning,
        "restored checkpoint " + report.checkpoint->name + " from " + target_->Describe() + ": " +
            std::to_string(report.restored) + " entries (" + std::to_string(report.expired) + " expired, " +
            std::to_string(report.invalid) + " invalid, " + std::to_string(report.skipped.size()) +
            " newer checkpoint(s) skipped)");
  }

  Result<RestoreReport> LoadFailed(RestoreReport report, Status error) {
    if (options_.on_load_failure == LoadFailurePolicy::kStartFresh) {
      const MetricLabel label{"outcome", "started_fresh"};
      Metrics().Increment("sluice_checkpoint_load_failures_total", MetricLabels(&label, 1));
      Log(LogLevel::kError, "could not load state (" + error.ToString() + "); starting with an empty state");
      report.started_fresh = true;
      report.load_error = std::move(error);
      restored_.store(true);
      return report;
    }
    const MetricLabel label{"outcome", "refused"};
    Metrics().Increment("sluice_checkpoint_load_failures_total", MetricLabels(&label, 1));
    restore_refused_.store(true);
    Log(LogLevel::kError, "could not load state (" + error.ToString() + "); refusing to start");
    return error;
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(thread_mu_);
    while (!stopped_) {
      Clock::Monotonic due;
      {
        std::lock_guard<std::mutex> stats_lock(stats_mu_);
        due = std::max(last_start_ + options_.interval, last_end_ + options_.min_pause);
      }
      const Clock::Monotonic now = clock_.MonotonicNow();
      if (now >= due) {
        lock.unlock();
        CreateCheckpoint().status().IgnoreError();  // logged and counted inside
        lock.lock();
        continue;
      }
      const auto remaining = std::chrono::duration_cast<std::chrono::nanoseconds>(due - now);
      wake_.wait_for(lock, std::min<std::chrono::nanoseconds>(remaining, kMaxIdleWait));
    }
  }

  const std::shared_ptr<Store> store_;
  CheckpointOptions options_;
  const std::shared_ptr<CheckpointTarget> target_;
  Clock& clock_;

  std::mutex checkpoint_mu_;  // one checkpoint or restore at a time
  uint64_t next_id_ = 0;      // guarded by checkpoint_mu_; 0 = not known yet
  std::mt19937_64 seeds_;     // guarded by checkpoint_mu_

  mutable std::mutex stats_mu_;
  CheckpointStats stats_;         // guarded by stats_mu_
  Clock::Monotonic last_start_;   // guarded by stats_mu_
  Clock::Monotonic last_end_;     // guarded by stats_mu_

  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool started_ = false;  // guarded by thread_mu_
  bool stopped_ = false;  // guarded by thread_mu_
  // The last RestoreLatest() refused to start: no checkpoint may be written.
  std::atomic<bool> restore_refused_{false};
  // A RestoreLatest() succeeded (restored, found nothing, or started fresh).
  std::atomic<bool> restored_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<CheckpointCoordinator>> CheckpointCoordinator::Create(std::shared_ptr<Store> store,
                                                                             CheckpointOptions options) {
  if (store == nullptr) return InvalidArgumentError("checkpoint coordinator: store is null");
  if (options.retain == 0) return InvalidArgumentError("checkpoint coordinator: retain must be at least 1");
  if (options.interval.count() < 0 || options.min_pause.count() < 0) {
    return InvalidArgumentError("checkpoint coordinator: interval and min_pause must not be negative");
  }
  SLUICE_RETURN_IF_ERROR(ToBackoff(options.save_retry).Validate().WithContext("CheckpointOptions.save_retry"));
  SLUICE_RETURN_IF_ERROR(ToBackoff(options.load_retry).Validate().WithContext("CheckpointOptions.load_retry"));
  std::shared_ptr<CheckpointTarget> target = options.target;
  if (target == nullptr) {
    if (options.directory.empty()) {
      return InvalidArgumentError("checkpoint coordinator: set a directory or a target");
    }
    FileSystem& fs = options.file_system != nullptr ? *options.file_system : FileSystem::Default();
    SLUICE_ASSIGN_OR_RETURN(target, NewDirectoryCheckpointTarget(fs, options.directory));
  }
  return std::unique_ptr<CheckpointCoordinator>(new CoordinatorImpl(std::move(store), std::move(options),
                                                                    std::move(target)));
}

}  // namespace sluice
