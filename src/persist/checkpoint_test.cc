// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/checkpoint.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "sluice/memory_store.h"
#include "sluice/testing/fault_file_system.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using testing::FaultFileSystem;
using testing::FaultFileSystemOptions;
using testing::FsOp;
using testing::SimulatedClock;

const std::string kDir = "/data/ckpt";

class RecordingMetrics final : public MetricsSink {
 public:
  void Increment(std::string_view name, MetricLabels labels, uint64_t delta) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string key(name);
    for (const auto& [k, v] : labels) key += "{" + std::string(k) + "=" + std::string(v) + "}";
    counters_[key] += delta;
  }
  void SetGauge(std::string_view name, MetricLabels, double value) override {
    std::lock_guard<std::mutex> lock(mu_);
    gauges_[std::string(name)] = value;
  }
  void Observe(std::string_view name, MetricLabels, std::chrono::nanoseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    counters_[std::string(name) + "#observations"] += 1;
  }
  uint64_t counter(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_[key];
  }
  double gauge(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return gauges_[key];
  }

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, double> gauges_;
};

class RecordingLogger final : public Logger {
 public:
  void Log(LogLevel level, std::string_view, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::string(LogLevelName(level)) + ": " + std::string(message));
  }
  bool Enabled(LogLevel) const override { return true; }
  // The waits logged as "retried after <ms> ms", in order.
  std::vector<double> RetryWaitsMs() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<double> out;
    for (const auto& l : lines_) {
      const size_t at = l.find("retried after ");
      if (at != std::string::npos) out.push_back(std::stod(l.substr(at + 14)));
    }
    return out;
  }
  bool Contains(std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

std::shared_ptr<Store> NewStore(Clock& clock) {
  return std::move(*MemoryStore::Create({.clock = &clock, .sweep_interval = 0ns}));
}

using Snapshot = std::map<std::string, Record>;

Snapshot Dump(Store& store) {
  Snapshot out;
  store.Scan("", [&](const Record& r) {
    out[r.key] = r;
    return true;
  }).IgnoreError();  // memory scans do not fail
  return out;
}

const Policy kBucket = Policy::TokenBucket(10, 10, std::chrono::hours(1));

// Consumes `cost` on keys user:0 .. user:n-1.
void Decide(Store& store, int n, int64_t cost = 1) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(store.Decide("user:" + std::to_string(i), kBucket, cost).ok());
  }
}

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointOptions Options() {
    CheckpointOptions o;
    o.directory = kDir;
    o.file_system = &fs_;
    o.clock = &clock_;
    o.interval = 0ns;
    o.jitter_seed = 7;
    o.observer = {&logger_, &metrics_};
    return o;
  }
  std::unique_ptr<CheckpointCoordinator> Make(std::shared_ptr<Store> store, CheckpointOptions o) {
    auto c = CheckpointCoordinator::Create(std::move(store), std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::vector<std::string> Names() { return *fs_.ListDirectory(kDir); }

  SimulatedClock clock_;
  FaultFileSystem fs_;
  RecordingMetrics metrics_;
  RecordingLogger logger_;
};

TEST_F(CheckpointTest, RoundTripsEveryAlgorithmBytesExpiryAndFences) {
  auto store = NewStore(clock_);
  const std::vector<Policy> policies = {
      Policy::TokenBucket(10, 1, 1s),        Policy::Gcra(5, 1, 1s),
      Policy::FixedWindow(7, 1min),          Policy::CalendarWindow(3, WindowAlignment::kCalendarDay),
      Policy::SlidingWindowLog(4, 10s),      Policy::SlidingWindowCounter(9, 1min)};
  for (size_t i = 0; i < policies.size(); ++i) {
    for (int j = 0; j < 3; ++j) {
      ASSERT_TRUE(store->Decide("k" + std::to_string(i), policies[i], 1).ok());
      clock_.Advance(1ms);
    }
  }
  ASSERT_TRUE(store->Put("bytes:forever", std::string("\0\1\2binary", 9)).ok());
  ASSERT_TRUE(store->Put("bytes:ttl", "v", 1h).ok());
  ASSERT_TRUE(store->Put(std::string("\xff\x00key", 5), "weird key").ok());
  ASSERT_TRUE(store->AtomicUpdate("fenced", [](const Record*) { return Update::Put(std::string("x")); },
                                  {.fencing_token = 42})
                  .ok());
  const Snapshot before = Dump(*store);

  auto writer = Make(store, Options());
  auto info = writer->CreateCheckpoint();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->id, 1u);
  EXPECT_EQ(info->entries, before.size());
  EXPECT_EQ(info->size_bytes, *fs_.FileSize(kDir + "/" + info->name));
  writer.reset();

  auto restored_store = NewStore(clock_);
  auto reader = Make(restored_store, Options());
  auto report = reader->RestoreLatest();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->checkpoint.has_value());
  EXPECT_EQ(report->checkpoint->id, 1u);
  EXPECT_EQ(report->restored, before.size());
  EXPECT_EQ(report->expired, 0u);
  EXPECT_TRUE(report->skipped.empty());
  EXPECT_EQ(Dump(*restored_store), before);
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_created_total"), 1u);
  EXPECT_EQ(metrics_.gauge("sluice_checkpoint_entries"), static_cast<double>(before.size()));
}

TEST_F(CheckpointTest, ExpiredRecordsAreLeftOutAndSkippedOnRestore) {
  auto store = NewStore(clock_);
  ASSERT_TRUE(store->Put("short", "s", 1s).ok());
  ASSERT_TRUE(store->Put("medium", "m", 1min).ok());
  ASSERT_TRUE(store->Put("long", "l", 1h).ok());
  clock_.Advance(2s);
  auto writer = Make(store, Options());
  auto info = writer->CreateCheckpoint();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->entries, 2u);  // "short" had expired
  writer.reset();
  clock_.Advance(2min);
  auto fresh = NewStore(clock_);
  auto report = Make(fresh, Options())->RestoreLatest();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->restored, 1u);
  EXPECT_EQ(report->expired, 1u);
  EXPECT_EQ(Dump(*fresh).count("long"), 1u);
}

TEST_F(CheckpointTest, RetainsTheNewestAndListsThemInTheManifest) {
  auto store = NewStore(clock_);
  auto options = Options();
  options.retain = 3;
  auto c = Make(store, options);
  for (int i = 1; i <= 5; ++i) {
    Decide(*store, i);
    ASSERT_TRUE(c->CreateCheckpoint().ok());
  }
  EXPECT_EQ(Names(), (std::vector<std::string>{"LOCK", "MANIFEST", "checkpoint-00000000000000000003.ckpt",
                                               "checkpoint-00000000000000000004.ckpt",
                                               "checkpoint-00000000000000000005.ckpt"}));
  const std::string manifest = *ReadFileToString(fs_, kDir + "/MANIFEST");
  EXPECT_NE(manifest.find("checkpoint-00000000000000000005.ckpt"), std::string::npos);
  EXPECT_EQ(manifest.find("checkpoint-00000000000000000002.ckpt"), std::string::npos);
  EXPECT_EQ(c->stats().created, 5u);
  EXPECT_EQ(c->stats().last_id, 5u);
  EXPECT_EQ(c->stats().last_entries, 5u);
}

TEST_F(CheckpointTest, SkipsACorruptNewestCheckpointAndSaysWhy) {
  auto store = NewStore(clock_);
  auto c = Make(store, Options());
  Decide(*store, 3);
  ASSERT_TRUE(c->CreateCheckpoint().ok());
  const Snapshot first = Dump(*store);
  Decide(*store, 5);
  auto second = c->CreateCheckpoint();
  ASSERT_TRUE(second.ok());
  c.reset();
  ASSERT_TRUE(fs_.CorruptByte(kDir + "/" + second->name, second->size_bytes / 2, 0x10).ok());

  auto fresh = NewStore(clock_);
  auto report = Make(fresh, Options())->RestoreLatest();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->skipped.size(), 1u);
  EXPECT_EQ(report->skipped[0].info.id, 2u);
  EXPECT_EQ(report->skipped[0].reason.code(), StatusCode::kDataLoss);
  EXPECT_EQ(report->checkpoint->id, 1u);
  EXPECT_EQ(Dump(*fresh), first);
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_skipped_total"), 1u);
  EXPECT_TRUE(logger_.Contains("skipped checkpoint " + second->name));
}

TEST_F(CheckpointTest, SkipsATruncatedFileTheManifestDoesNotList) {
  auto store = NewStore(clock_);
  auto c = Make(store, Options());
  Decide(*store, 4);
  auto first = c->CreateCheckpoint();
  ASSERT_TRUE(first.ok());
  c.reset();
  // A newer file cut short (as a copy or a broken disk might leave it).
  const std::string bytes = *ReadFileToString(fs_, kDir + "/" + first->name);
  for (size_t keep : {size_t{0}, size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    ASSERT_TRUE(WriteFileAtomically(fs_, kDir + "/checkpoint-00000000000000000009.ckpt", bytes.substr(0, keep)).ok());
    auto fresh = NewStore(clock_);
    auto report = Make(fresh, Options())->RestoreLatest();
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->skipped.size(), 1u) << keep;
    EXPECT_EQ(report->checkpoint->id, 1u);
    EXPECT_EQ(Dump(*fresh), Dump(*store));
  }
}

TEST_F(CheckpointTest, RemovesTempFilesAtStartAndLocksTheDirectory) {
  ASSERT_TRUE(fs_.CreateDirectories(kDir).ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, kDir + "/checkpoint-00000000000000000001.ckpt.tmp", "partial").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, kDir + "/MANIFEST.tmp", "partial").ok());
  auto store = NewStore(clock_);
  auto c = Make(store, Options());
  EXPECT_EQ(Names(), std::vector<std::string>{"LOCK"});
  auto second = CheckpointCoordinator::Create(store, Options());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(CheckpointTest, NoCheckpointIsAFreshStartNotAnError) {
  auto c = Make(NewStore(clock_), Options());
  auto report = c->RestoreLatest();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->checkpoint.has_value());
  EXPECT_FALSE(report->started_fresh);
  EXPECT_EQ(report->restored, 0u);
}

TEST_F(CheckpointTest, WhenNothingLoadsItRefusesByDefaultOrStartsFreshWhenConfigured) {
  auto store = NewStore(clock_);
  auto c = Make(store, Options());
  Decide(*store, 2);
  auto info = c->CreateCheckpoint();
  ASSERT_TRUE(info.ok());
  c.reset();
  ASSERT_TRUE(fs_.CorruptByte(kDir + "/" + info->name, 12).ok());

  auto refused = Make(NewStore(clock_), Options())->RestoreLatest();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("could be restored"), std::string_view::npos);
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_load_failures_total{outcome=refused}"), 1u);
  EXPECT_TRUE(logger_.Contains("refusing to start"));

  auto options = Options();
  options.on_load_failure = LoadFailurePolicy::kStartFresh;
  auto fresh_store = NewStore(clock_);
  auto fresh = Make(fresh_store, options)->RestoreLatest();
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->started_fresh);
  EXPECT_EQ(fresh->load_error.code(), StatusCode::kDataLoss);
  EXPECT_EQ(fresh->skipped.size(), 1u);
  EXPECT_TRUE(Dump(*fresh_store).empty());
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_load_failures_total{outcome=started_fresh}"), 1u);
  EXPECT_TRUE(logger_.Contains("starting with an empty state"));
}

// Runs `fn` on a thread and moves the clock on in 1 ms steps whenever it
// sleeps (retry backoff), until it returns.
template <typename Fn>
void RunAdvancing(SimulatedClock& clock, Fn fn) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    fn();
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    if (clock.sleepers() > 0) clock.Advance(1ms);
    for (int i = 0; i < 20; ++i) std::this_thread::yield();  // let the woken thread run
  }
  t.join();
}

TEST_F(CheckpointTest, SaveIsRetriedWithBackoffOnANewFile) {
  auto store = NewStore(clock_);
  Decide(*store, 3);
  auto c = Make(store, Options());
  fs_.FailNext(FsOp::kSync, EIO);
  Result<CheckpointInfo> info = InternalError("not run");
  RunAdvancing(clock_, [&] { info = c->CreateCheckpoint(); });
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(logger_.RetryWaitsMs().size(), 1u);
  EXPECT_LE(logger_.RetryWaitsMs()[0], 100.0);
  EXPECT_EQ(info->id, 2u);  // the failed attempt's id is not reused
  EXPECT_EQ(c->stats().retries, 1u);
  EXPECT_EQ(c->stats().created, 1u);
  EXPECT_EQ(c->stats().failed, 0u);
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_retries_total"), 1u);
  EXPECT_EQ(Names(), (std::vector<std::string>{"LOCK", "MANIFEST", "checkpoint-00000000000000000002.ckpt"}));
}

TEST_F(CheckpointTest, SaveGivesUpAfterTheAttemptsAndKeepsThePreviousCheckpoint) {
  auto store = NewStore(clock_);
  Decide(*store, 3);
  auto c = Make(store, Options());
  ASSERT_TRUE(c->CreateCheckpoint().ok());
  const Snapshot saved = Dump(*store);
  Decide(*store, 6);
  fs_.FailAlways(FsOp::kAppend, ENOSPC);
  Result<CheckpointInfo> info = InternalError("not run");
  RunAdvancing(clock_, [&] { info = c->CreateCheckpoint(); });
  EXPECT_EQ(info.status().code(), StatusCode::kResourceExhausted);
  const std::vector<double> waits = logger_.RetryWaitsMs();
  ASSERT_EQ(waits.size(), 2u);  // 3 attempts
  EXPECT_LE(waits[0], 100.0);
  EXPECT_LE(waits[1], 400.0);
  EXPECT_EQ(c->stats().failed, 1u);
  EXPECT_EQ(c->stats().retries, 2u);
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_failures_total"), 1u);
  EXPECT_TRUE(logger_.Contains("failed after 3 attempt(s)"));
  fs_.ClearFaults();
  c.reset();
  auto fresh = NewStore(clock_);
  auto report = Make(fresh, Options())->RestoreLatest();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(Dump(*fresh), saved);
  EXPECT_EQ(Names(), (std::vector<std::string>{"LOCK", "MANIFEST", "checkpoint-00000000000000000001.ckpt"}));
}

TEST_F(CheckpointTest, LoadIsRetried) {
  auto store = NewStore(clock_);
  Decide(*store, 3);
  auto c = Make(store, Options());
  ASSERT_TRUE(c->CreateCheckpoint().ok());
  c.reset();
  auto fresh = NewStore(clock_);
  auto reader = Make(fresh, Options());
  fs_.FailNext(FsOp::kListDirectory, EIO);
  // The second open is the checkpoint's (the first is the manifest's).
  fs_.FailNext(FsOp::kNewSequentialFile, EIO, /*skip=*/1);
  Result<RestoreReport> report = InternalError("not run");
  RunAdvancing(clock_, [&] { report = reader->RestoreLatest(); });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->attempts, 4);  // list twice, read twice
  EXPECT_TRUE(report->skipped.empty());
  EXPECT_EQ(Dump(*fresh), Dump(*store));
  EXPECT_EQ(metrics_.counter("sluice_checkpoint_load_retries_total"), 2u);
}

TEST_F(CheckpointTest, LoadThatKeepsFailingFollowsThePolicy) {
  auto store = NewStore(clock_);
  Decide(*store, 3);
  ASSERT_TRUE(Make(store, Options())->CreateCheckpoint().ok());
  fs_.FailAlways(FsOp::kRead, EIO);
  Result<RestoreReport> report = InternalError("not run");
  auto reader = Make(NewStore(clock_), Options());
  RunAdvancing(clock_, [&] { report = reader->RestoreLatest(); });
  EXPECT_FALSE(report.ok());
  auto options = Options();
  options.on_load_failure = LoadFailurePolicy::kStartFresh;
  reader.reset();
  reader = Make(NewStore(clock_), options);
  RunAdvancing(clock_, [&] { report = reader->RestoreLatest(); });
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->started_fresh);
  EXPECT_EQ(report->attempts, 4);  // the listing, then 3 reads
}

TEST_F(CheckpointTest, PeriodicCheckpointsFollowTheClockAndStopWritesAFinalOne) {
  auto store = NewStore(clock_);
  auto options = Options();
  options.interval = 10s;
  options.min_pause = 4s;
  auto c = Make(store, options);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->Start().code(), StatusCode::kFailedPrecondition);
  auto wait_for_created = [&](uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (c->stats().created < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return c->stats().created;
  };
  Decide(*store, 2);
  clock_.Advance(9s);
  std::this_thread::sleep_for(120ms);  // the thread looks at the clock every 50 ms: nothing is due yet
  EXPECT_EQ(c->stats().created, 0u);
  clock_.Advance(1s);
  EXPECT_EQ(wait_for_created(1), 1u);
  // An on-demand checkpoint counts: the next periodic one is due 10 s after it started.
  clock_.Advance(8s);
  ASSERT_TRUE(c->CreateCheckpoint().ok());
  EXPECT_EQ(c->stats().created, 2u);
  clock_.Advance(9s);
  std::this_thread::sleep_for(120ms);
  EXPECT_EQ(c->stats().created, 2u);
  clock_.Advance(1s);
  EXPECT_EQ(wait_for_created(3), 3u);
  ASSERT_TRUE(c->Stop().ok());
  EXPECT_EQ(c->stats().created, 4u);  // the final one
  EXPECT_TRUE(c->Stop().ok());
  EXPECT_EQ(c->stats().created, 4u);
}

TEST_F(CheckpointTest, StoreTargetKeepsTheCheckpointUnderOneKey) {
  auto remote = NewStore(clock_);  // stands in for a Redis a serverless worker shares
  auto options = Options();
  options.target = NewStoreCheckpointTarget(remote, "worker:7:state");
  auto state = NewStore(clock_);
  {
    auto first_run = Make(state, options);
    auto report = first_run->RestoreLatest();
    ASSERT_TRUE(report.ok());
    EXPECT_FALSE(report->checkpoint.has_value());
    Decide(*state, 5, 3);
    ASSERT_TRUE(first_run->Stop().ok());  // saves after the run
  }
  auto raw = remote->Get("worker:7:state");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_TRUE(std::holds_alternative<std::string>((*raw)->value));

  auto cold = NewStore(clock_);
  auto second_run = Make(cold, options);
  auto report = second_run->RestoreLatest();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->restored, 5u);
  EXPECT_EQ(Dump(*cold), Dump(*state));
  Decide(*cold, 2);
  auto info = second_run->CreateCheckpoint();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->id, 2u);

  // A damaged value is reported, not restored.
  ASSERT_TRUE(remote->Put("worker:7:state", "garbage").ok());
  auto damaged = Make(NewStore(clock_), options)->RestoreLatest();
  EXPECT_EQ(damaged.status().code(), StatusCode::kDataLoss);
}

// A stand-in compression: the bytes unchanged behind a one-byte mark, enough
// to see that the coordinator compresses through it and needs it to read.
class MarkCompression final : public Compression {
 public:
  std::string_view name() const override { return "mark"; }
  Result<std::unique_ptr<Compressor>> NewCompressor() const override {
    class C final : public Compressor {
     public:
      Status Compress(std::string_view in, std::string* out) override {
        if (!started_) out->push_back('M');
        started_ = true;
        out->append(in);
        return Status::Ok();
      }
      Status Finish(std::string* out) override { return Compress("", out); }

     private:
      bool started_ = false;
    };
    return std::unique_ptr<Compressor>(new C());
  }
  Result<std::unique_ptr<Decompressor>> NewDecompressor() const override {
    class D final : public Decompressor {
     public:
      Status Decompress(std::string_view in, std::string* out) override {
        if (!started_ && !in.empty()) {
          if (in[0] != 'M') return DataLossError("no mark");
          in.remove_prefix(1);
          started_ = true;
        }
        out->append(in);
        return Status::Ok();
      }
      Status Finish() override { return started_ ? Status::Ok() : DataLossError("empty"); }

     private:
      bool started_ = false;
    };
    return std::unique_ptr<Decompressor>(new D());
  }
};

// A coordinator whose restore refused to start writes nothing over the
// checkpoints it could not load: not on demand, not on Stop().
TEST_F(CheckpointTest, ARefusedRestoreWritesNothingOverTheCheckpoints) {
  auto state = NewStore(clock_);
  auto options = Options();
  options.target = NewStoreCheckpointTarget(state, "ckpt");
  Decide(*state, 4, 2);
  {
    auto first = Make(state, options);
    ASSERT_TRUE(first->RestoreLatest().ok());
    ASSERT_TRUE(first->CreateCheckpoint().ok());
    ASSERT_TRUE(first->CreateCheckpoint().ok());  // the store now holds the first one too
  }
  // The checkpoint holds the 4 keys, not the previous checkpoint.
  auto saved = state->Get("ckpt");
  ASSERT_TRUE(saved.ok() && saved->has_value());
  const std::string good = std::get<std::string>((*saved)->value);
  auto copy = NewStore(clock_);
  options.target = NewStoreCheckpointTarget(copy, "ckpt");
  ASSERT_TRUE(copy->Put("ckpt", good).ok());
  auto restored_copy = Make(NewStore(clock_), options)->RestoreLatest();
  ASSERT_TRUE(restored_copy.ok()) << restored_copy.status().ToString();
  EXPECT_EQ(restored_copy->restored, 4u);
  // A damaged checkpoint: the restore refuses, and nothing replaces it.
  std::string damaged = good;
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 1);
  ASSERT_TRUE(copy->Put("ckpt", damaged).ok());
  auto refusing = Make(NewStore(clock_), options);
  EXPECT_FALSE(refusing->RestoreLatest().ok());
  EXPECT_EQ(refusing->CreateCheckpoint().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(refusing->Stop().ok());
  EXPECT_EQ(std::get<std::string>((**copy->Get("ckpt")).value), damaged);
  // Without a restore, Stop() writes nothing either.
  auto never_loaded = Make(NewStore(clock_), options);
  EXPECT_TRUE(never_loaded->Stop().ok());
  EXPECT_EQ(std::get<std::string>((**copy->Get("ckpt")).value), damaged);
}

TEST_F(CheckpointTest, CompressesThroughTheGivenCompressionAndNeedsItToRestore) {
  auto store = NewStore(clock_);
  Decide(*store, 7);
  auto options = Options();
  options.compression = std::make_shared<MarkCompression>();
  auto info = Make(store, options)->CreateCheckpoint();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const std::string bytes = *ReadFileToString(fs_, kDir + "/" + info->name);
  EXPECT_NE(bytes.find("mark"), std::string::npos);  // named in the header

  auto plain = Options();  // cannot read "mark"
  auto refused = Make(NewStore(clock_), plain)->RestoreLatest();
  ASSERT_FALSE(refused.ok());
  auto with_reader = Options();
  with_reader.readable_compressions = {std::make_shared<MarkCompression>()};
  auto restored_store = NewStore(clock_);
  auto report = Make(restored_store, with_reader)->RestoreLatest();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Dump(*restored_store), Dump(*store));
}

TEST_F(CheckpointTest, RejectsBadOptions) {
  auto store = NewStore(clock_);
  CheckpointOptions none;
  EXPECT_EQ(CheckpointCoordinator::Create(store, none).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckpointCoordinator::Create(nullptr, Options()).status().code(), StatusCode::kInvalidArgument);
  auto o = Options();
  o.retain = 0;
  EXPECT_EQ(CheckpointCoordinator::Create(store, o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.save_retry.max_attempts = 0;
  EXPECT_EQ(CheckpointCoordinator::Create(store, o).status().code(), StatusCode::kInvalidArgument);
}

// ---- Crash and failure sweeps ----

struct SweepResult {
  int points = 0;      // crash points tried
  int violations = 0;  // restores that lost a reported checkpoint or restored wrong data
  int unreadable = 0;  // restores that failed outright
  std::string first;   // the first violation, described
};

// Writes checkpoint 1 (state A), changes the state to B, and interrupts the
// second checkpoint at every file-system call: `interrupt(fs, n)` arms the
// fault for call n after the start. Then (optionally) cuts the power, opens
// the directory again and restores: the result must be A or B exactly, B if
// the second checkpoint reported success, and no temp file may be left.
// `during` replaces the file system's options for the second checkpoint (a
// mutant applies to it alone).
template <typename Interrupt>
SweepResult Sweep(FaultFileSystemOptions fs_options, bool power_loss, Interrupt interrupt,
                  std::optional<FaultFileSystemOptions> during = std::nullopt, int keys = 12) {
  SweepResult out;
  for (uint64_t n = 0;; ++n) {
    SimulatedClock clock;
    FaultFileSystem fs(fs_options);
    CheckpointOptions options;
    options.directory = kDir;
    options.file_system = &fs;
    options.clock = &clock;
    options.interval = 0ns;
    options.retain = 2;
    options.save_retry.max_attempts = 1;
    options.load_retry.max_attempts = 1;
    options.observer = {&Logger::Null(), nullptr};
    auto store = NewStore(clock);
    Snapshot a, b;
    bool finished = false;
    Status second = InternalError("not run");
    {
      auto c = CheckpointCoordinator::Create(store, options);
      if (!c.ok()) return {-1, -1, -1, c.status().ToString()};
      Decide(*store, keys);
      if (!(*c)->CreateCheckpoint().ok()) return {-1, -1, -1, "first checkpoint failed"};
      a = Dump(*store);
      Decide(*store, keys + 3, 2);
      b = Dump(*store);
      if (during.has_value()) fs.SetOptions(*during);
      const uint64_t start = fs.calls();
      interrupt(fs, start + n);
      second = (*c)->CreateCheckpoint().status();
      finished = fs.calls() - start < n;
    }
    if (power_loss) fs.SimulatePowerLoss();
    fs.ClearFaults();
    ++out.points;
    auto restored_store = NewStore(clock);
    auto reader = CheckpointCoordinator::Create(restored_store, options);
    Result<RestoreReport> report = reader.ok() ? (*reader)->RestoreLatest() : Result<RestoreReport>(reader.status());
    auto describe = [&](const std::string& what) {
      if (out.first.empty()) {
        out.first = "call " + std::to_string(n) + ": " + what + " (second checkpoint: " + second.ToString() + ")";
      }
    };
    if (!report.ok()) {
      ++out.unreadable;
      ++out.violations;
      describe("restore failed: " + report.status().ToString());
    } else {
      const Snapshot got = Dump(*restored_store);
      if (got != a && got != b) {
        ++out.violations;
        describe("restored neither state (" + std::to_string(got.size()) + " keys)");
      } else if (second.ok() && got != b) {
        ++out.violations;
        describe("lost a checkpoint reported durable");
      }
      const std::vector<std::string> names = fs.ListDirectory(kDir).value_or(std::vector<std::string>{});
      for (const std::string& name : names) {
        if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
          ++out.violations;
          describe("temp file left: " + name);
        }
      }
    }
    if (finished) break;
  }
  return out;
}

auto CrashAt = [](FaultFileSystem& fs, uint64_t n) { fs.CrashAfter(n); };

TEST(CheckpointCrashTest, PowerLossAtEveryCallKeepsTheLastDurableCheckpoint) {
  const SweepResult r = Sweep({}, /*power_loss=*/true, CrashAt);
  EXPECT_GT(r.points, 10);
  EXPECT_EQ(r.violations, 0) << r.first;
}

TEST(CheckpointCrashTest, PowerLossWithTornTailsAtEveryCall) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const SweepResult r = Sweep({.garble_unsynced_tail = true, .seed = seed}, /*power_loss=*/true, CrashAt);
    EXPECT_EQ(r.violations, 0) << "seed " << seed << ": " << r.first;
  }
}

TEST(CheckpointCrashTest, ProcessCrashAtEveryCallKeepsTheLastCheckpoint) {
  // The process dies (later calls fail) but the machine does not.
  const SweepResult r = Sweep({}, /*power_loss=*/false, CrashAt);
  EXPECT_EQ(r.violations, 0) << r.first;
}

TEST(CheckpointCrashTest, EveryWriteAndSyncFailureKeepsThePreviousCheckpoint) {
  for (int err : {EIO, ENOSPC}) {
    for (bool power_loss : {false, true}) {
      const SweepResult r = Sweep({}, power_loss, [err](FaultFileSystem& fs, uint64_t n) { fs.FailCall(n, err); });
      EXPECT_GT(r.points, 10);
      EXPECT_EQ(r.violations, 0) << "errno " << err << " power loss " << power_loss << ": " << r.first;
    }
  }
}

// The mutants skip the directory fsync (or the file fsync) in the second
// checkpoint only, so the first one is durable and only a sweep that can see
// a missing fsync fails: it must, at the points after the second checkpoint
// reported success.
TEST(CheckpointCrashTest, TheSweepCatchesAMissingDirectorySync) {
  const SweepResult r =
      Sweep({}, /*power_loss=*/true, CrashAt, FaultFileSystemOptions{.ignore_directory_sync = true});
  EXPECT_GT(r.violations, 0) << "a checkpoint that skips the directory fsync passed the power-loss sweep";
  EXPECT_NE(r.first.find("lost a checkpoint reported durable"), std::string::npos) << r.first;
}

TEST(CheckpointCrashTest, TheSweepCatchesAMissingFileSync) {
  const SweepResult r = Sweep({}, /*power_loss=*/true, CrashAt,
                              FaultFileSystemOptions{.ignore_file_sync = true, .garble_unsynced_tail = true});
  EXPECT_GT(r.violations, 0) << "a checkpoint that skips the file fsync passed the power-loss sweep";
}

// Many seeds: a random crash point, random torn tails, a random number of
// keys, several checkpoints in a row. SLUICE_CHECKPOINT_SEEDS sets the number
// of seeds for a longer run (default 2000).
TEST(CheckpointCrashTest, RandomCrashPointsOverManySeeds) {
  int violations = 0;
  std::string first;
  const char* env = std::getenv("SLUICE_CHECKPOINT_SEEDS");
  const uint64_t seeds = env != nullptr ? std::strtoull(env, nullptr, 10) : 2000;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    std::mt19937_64 rng(seed);
    const int keys = 1 + static_cast<int>(rng() % 40);
    const uint64_t crash = rng() % 60;
    SimulatedClock clock;
    FaultFileSystem fs({.garble_unsynced_tail = true, .seed = seed});
    CheckpointOptions options;
    options.directory = kDir;
    options.file_system = &fs;
    options.clock = &clock;
    options.interval = 0ns;
    options.retain = 1 + rng() % 3;
    options.save_retry.max_attempts = 1;
    options.observer = {&Logger::Null(), nullptr};
    auto store = NewStore(clock);
    std::vector<Snapshot> durable;  // states of checkpoints that reported success
    std::vector<Snapshot> attempted;
    {
      auto c = CheckpointCoordinator::Create(store, options);
      ASSERT_TRUE(c.ok());
      fs.CrashAfter(fs.calls() + crash);
      for (int round = 0; round < 4; ++round) {
        Decide(*store, keys + round, 1 + round % 2);
        attempted.push_back(Dump(*store));
        if ((*c)->CreateCheckpoint().ok()) durable.push_back(attempted.back());
      }
    }
    fs.SimulatePowerLoss();
    auto restored = NewStore(clock);
    auto reader = CheckpointCoordinator::Create(restored, options);
    ASSERT_TRUE(reader.ok());
    auto report = (*reader)->RestoreLatest();
    const Snapshot got = Dump(*restored);
    bool ok = report.ok();
    if (ok) {
      // Exactly one attempted state (or nothing, if nothing was durable), and
      // none older than the last one reported durable.
      const auto it = std::find(attempted.begin(), attempted.end(), got);
      if (durable.empty()) {
        ok = got.empty() || it != attempted.end();
      } else {
        ok = it != attempted.end() && std::find(attempted.begin(), attempted.end(), durable.back()) <= it;
      }
    }
    if (!ok) {
      ++violations;
      if (first.empty()) first = "seed " + std::to_string(seed);
    }
  }
  EXPECT_EQ(violations, 0) << first;
}

}  // namespace
}  // namespace sluice
