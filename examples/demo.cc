// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// sluice_demo: keyed limiting, the JSON state format, and a restart that keeps
// its limits. It stands in for the daemon until sluiced exists.
//
//   sluice_demo [--data-dir DIR] [--requests N]
//
// On start a CheckpointCoordinator restores the newest good checkpoint from
// DIR/checkpoints and reports what it restored and skipped; the demo then
// makes N requests for a few users through a LimiterFactory, and on exit
// Stop() writes a final checkpoint crash-safely (temp file, fsync, rename,
// fsync of the directory, a checksummed manifest). Run it twice: the second
// run starts where the first stopped.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "sluice/checkpoint.h"
#include "sluice/memory_store.h"
#include "sluice/rate_limiter.h"
#include "sluice/state_codec.h"
#include "sluice/token_bucket.h"

namespace {

// Durations rounded to milliseconds: easier to read than Decision's exact form.
std::string Ms(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

std::string Describe(const sluice::Decision& d) {
  return std::string(d.allowed ? "allowed" : "denied ") + " remaining=" + std::to_string(d.remaining) + "/" +
         std::to_string(d.limit) + " full_again_in=" + Ms(d.reset_after) +
         (d.allowed ? "" : " retry_after=" + Ms(d.retry_after));
}

int Fail(const sluice::Status& s) {
  std::cerr << "sluice_demo: " << s.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = ".";
  int requests = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--requests" && i + 1 < argc) {
      requests = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: sluice_demo [--data-dir DIR] [--requests N]\n";
      return 2;
    }
  }
  const std::string checkpoint_dir = data_dir + "/checkpoints";

  auto made = sluice::MemoryStore::Create({.max_keys = 1'000'000});
  if (!made.ok()) return Fail(made.status());
  std::shared_ptr<sluice::Store> store = std::move(*made);

  // Seed 004's coordinator: a checkpoint every minute while running, a final
  // one on Stop(), the newest three kept.
  sluice::CheckpointOptions options;
  options.directory = checkpoint_dir;
  options.interval = std::chrono::minutes(1);
  options.retain = 3;
  auto coordinator = sluice::CheckpointCoordinator::Create(store, options);
  if (!coordinator.ok()) return Fail(coordinator.status());
  auto report = (*coordinator)->RestoreLatest();
  if (!report.ok()) return Fail(report.status());
  if (report->checkpoint.has_value()) {
    std::cout << "== start: restored " << report->restored << " keys from " << checkpoint_dir << "/"
              << report->checkpoint->name << " (" << report->expired << " expired, " << report->invalid
              << " invalid, " << report->skipped.size() << " newer checkpoints skipped)\n";
  } else {
    std::cout << "== start: no checkpoint in " << checkpoint_dir << " yet; starting empty\n";
  }
  for (const sluice::SkippedCheckpoint& skipped : report->skipped) {
    std::cout << "   skipped " << skipped.info.name << ": " << skipped.reason.ToString() << "\n";
  }
  if (sluice::Status s = (*coordinator)->Start(); !s.ok()) return Fail(s);

  // Seed 001's factory: 10 requests per minute per user, refilled continuously.
  auto factory = sluice::LimiterFactory::Create(
      {.policy = "token_bucket", .id = "api", .limit = 10, .rate = {.interval = "1 minute", .amount = 10}}, store);
  if (!factory.ok()) return Fail(factory.status());

  std::cout << "== " << (*factory)->limiter().policy().ToString() << ", " << requests << " requests per user\n";
  for (const char* user : {"alice", "bob", "carol:{admin}"}) {
    sluice::KeyedLimiter limiter = (*factory)->Create(user);
    for (int i = 0; i < requests; ++i) {
      sluice::Result<sluice::Decision> d = limiter.Consume();
      if (!d.ok()) return Fail(d.status());
      std::cout << "  " << user << " #" << i + 1 << ": " << Describe(*d) << "\n";
    }
  }

  // The JSON form of one record, as export files and the admin API carry it.
  auto record = store->Get((*factory)->limiter().StoreKeyFor("alice"));
  if (record.ok() && record->has_value()) {
    std::cout << "== alice's record as JSON:\n" << sluice::EncodeRecordJson(**record, /*pretty=*/true) << "\n";
  }

  // Seed 000's standalone bucket and its JSON round trip.
  auto bucket = sluice::TokenBucket::Create(1000, 100);
  if (!bucket.ok()) return Fail(bucket.status());
  bucket->Allow(300);
  const std::string json = bucket->ToJson();
  auto back = sluice::TokenBucket::FromJson(json);
  if (!back.ok()) return Fail(back.status());
  std::cout << "== TokenBucket(1000, 100/s) after Allow(300): " << json << "\n   restored from JSON: "
            << back->Available() << " tokens available\n";

  if (sluice::Status s = (*coordinator)->Stop(); !s.ok()) return Fail(s);
  const sluice::CheckpointStats stats = (*coordinator)->stats();
  std::cout << "== saved " << stats.last_entries << " keys (" << stats.last_bytes << " bytes) as checkpoint "
            << stats.last_id << " in " << checkpoint_dir << "; run again and the limits carry over\n";
  return 0;
}
