// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// sluice_crash_writer: the process tests/crash/checkpoint_crash.sh kills.
//
//   sluice_crash_writer --dir DIR [--store memory] [--keys N] [--rounds R] [--seed S]
//
// It restores the newest checkpoint from DIR and prints what it got, then for
// R rounds decides on random keys and writes a checkpoint, and finally stops
// (Stop() writes a last checkpoint) and exits 0. Every line is flushed at
// once, so whatever the script reads was said before the kill:
//   restored <id> <digest>   after RestoreLatest (id 0: nothing restored)
//   temp_files <n>           temp files found after opening DIR (must be 0)
//   checkpoint_files <n>     checkpoint files found after opening DIR
//   pending <digest>         the state a checkpoint is about to save
//   checkpoint <id> <digest> a checkpoint completed (it is durable)
//   retained <n>             checkpoint files in DIR right after it
// <digest> is a hash of every record (key and binary encoding, in key order).
// Exit codes: 0 done, 2 usage, 3 restore failed, 4 other errors.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <string>

#include "sluice/checkpoint.h"
#include "sluice/memory_store.h"
#include "sluice/state_codec.h"

namespace {

std::string Digest(sluice::Store& store) {
  std::map<std::string, std::string> sorted;
  sluice::Status s = store.Scan("", [&](const sluice::Record& r) {
    sorted[r.key] = sluice::EncodeRecordBinary(r);
    return true;
  });
  if (!s.ok()) return "scan-failed";
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator
  };
  for (const auto& [key, bytes] : sorted) {
    mix(key);
    mix(bytes);
  }
  char out[32];
  std::snprintf(out, sizeof(out), "%016llx-%zu", static_cast<unsigned long long>(h), sorted.size());
  return out;
}

void Say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// The store under test. Others (an embedded durable store) can be added here.
sluice::Result<std::shared_ptr<sluice::Store>> MakeStore(const std::string& name) {
  if (name == "memory") {
    auto store = sluice::MemoryStore::Create({});
    if (!store.ok()) return store.status();
    return std::shared_ptr<sluice::Store>(std::move(*store));
  }
  return sluice::InvalidArgumentError("unknown --store " + name + " (known: memory)");
}

// Counts DIR's temp files and checkpoint files.
std::pair<int, int> CountFiles(const std::string& dir) {
  int temp_files = 0, checkpoint_files = 0;
  auto names = sluice::FileSystem::Default().ListDirectory(dir);
  if (!names.ok()) return {-1, -1};
  for (const std::string& name : *names) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) ++temp_files;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".ckpt") == 0) ++checkpoint_files;
  }
  return {temp_files, checkpoint_files};
}

int Fail(const std::string& what, const sluice::Status& s, int code) {
  std::cerr << "sluice_crash_writer: " << what << ": " << s.ToString() << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, store_name = "memory";
  int keys = 5000, rounds = 10;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "usage: sluice_crash_writer --dir DIR [--store memory] [--keys N] [--rounds R] [--seed S]\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--dir") {
      dir = value;
    } else if (arg == "--store") {
      store_name = value;
    } else if (arg == "--keys") {
      keys = std::atoi(value.c_str());
    } else if (arg == "--rounds") {
      rounds = std::atoi(value.c_str());
    } else if (arg == "--seed") {
      seed = std::strtoull(value.c_str(), nullptr, 10);
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  if (dir.empty() || keys <= 0) {
    std::cerr << "usage: sluice_crash_writer --dir DIR [--store memory] [--keys N] [--rounds R] [--seed S]\n";
    return 2;
  }

  auto store = MakeStore(store_name);
  if (!store.ok()) return Fail("store", store.status(), 2);
  sluice::CheckpointOptions options;
  options.directory = dir;
  options.interval = std::chrono::nanoseconds(0);  // the rounds below checkpoint explicitly
  options.retain = 3;
  options.jitter_seed = seed;
  auto coordinator = sluice::CheckpointCoordinator::Create(*store, options);
  if (!coordinator.ok()) return Fail("open " + dir, coordinator.status(), 3);

  const auto [temp_files, checkpoint_files] = CountFiles(dir);

  auto report = (*coordinator)->RestoreLatest();
  if (!report.ok()) return Fail("restore", report.status(), 3);
  Say("restored " + std::to_string(report->checkpoint.has_value() ? report->checkpoint->id : 0) + " " +
      Digest(**store));
  Say("temp_files " + std::to_string(temp_files));
  Say("checkpoint_files " + std::to_string(checkpoint_files));
  if (!report->skipped.empty()) {
    for (const auto& s : report->skipped) std::cerr << "skipped " << s.info.name << ": " << s.reason.ToString() << "\n";
  }

  // A limit that refills one unit a day: nothing expires while the test runs,
  // so a restored state must equal the saved one bit for bit.
  const sluice::Policy policy = sluice::Policy::TokenBucket(1'000'000, 1, std::chrono::hours(24));
  std::mt19937_64 rng(seed);
  if (sluice::Status s = (*coordinator)->Start(); !s.ok()) return Fail("start", s, 4);
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < keys / 4; ++i) {
      const std::string key = "user:" + std::to_string(rng() % static_cast<uint64_t>(keys));
      auto d = (*store)->Decide(key, policy, 1 + static_cast<int64_t>(rng() % 3));
      if (!d.ok()) return Fail("decide", d.status(), 4);
    }
    Say("pending " + Digest(**store));
    auto info = (*coordinator)->CreateCheckpoint();
    if (!info.ok()) return Fail("checkpoint", info.status(), 4);
    Say("checkpoint " + std::to_string(info->id) + " " + Digest(**store));
    Say("retained " + std::to_string(CountFiles(dir).second));
  }
  // Shutdown: one more round of decisions, saved by Stop().
  for (int i = 0; i < keys / 4; ++i) {
    auto d = (*store)->Decide("user:" + std::to_string(rng() % static_cast<uint64_t>(keys)), policy, 1);
    if (!d.ok()) return Fail("decide", d.status(), 4);
  }
  Say("pending " + Digest(**store));
  if (sluice::Status s = (*coordinator)->Stop(); !s.ok()) return Fail("stop", s, 4);
  Say("checkpoint " + std::to_string((*coordinator)->stats().last_id) + " " + Digest(**store));
  Say("retained " + std::to_string(CountFiles(dir).second));
  return 0;
}
