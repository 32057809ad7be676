// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// sluice_demo: keyed limiting, the JSON state format, and a restart that keeps
// its limits. It stands in for the daemon until sluiced exists.
//
//   sluice_demo [--data-dir DIR] [--requests N]
//
// On start it restores every record from DIR/limits.jsonl (one JSON record per
// line), makes N requests for a few users through a LimiterFactory, and on exit
// writes the store back crash-safely (temp file, fsync, rename, fsync of the
// directory). Run it twice: the second run starts where the first stopped.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "sluice/memory_store.h"
#include "sluice/rate_limiter.h"
#include "sluice/state_codec.h"
#include "sluice/token_bucket.h"

namespace {

struct Restored {
  int restored = 0;
  int expired = 0;
  int invalid = 0;
};

Restored Load(sluice::Store& store, const std::string& path) {
  Restored out;
  std::ifstream in(path);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    sluice::Result<sluice::Record> record = sluice::DecodeRecordJson(line, store.clock().NowNanos());
    if (!record.ok()) {
      std::cerr << path << ":" << line_no << ": skipped: " << record.status().ToString() << "\n";
      ++out.invalid;
      continue;
    }
    if (record->expires_at_ns != 0 && record->expires_at_ns <= store.clock().NowNanos()) {
      ++out.expired;
      continue;
    }
    sluice::Status s = store.Put(*record);
    if (!s.ok()) {
      std::cerr << path << ":" << line_no << ": skipped: " << s.ToString() << "\n";
      ++out.invalid;
      continue;
    }
    ++out.restored;
  }
  return out;
}

// Writes all records so that a crash leaves either the old file or the new one.
bool Save(sluice::Store& store, const std::string& dir, const std::string& path, int* count) {
  const std::string tmp = path + ".tmp";
  std::string text;
  *count = 0;
  sluice::Status scan = store.Scan("", [&](const sluice::Record& r) {
    text += sluice::EncodeRecordJson(r);
    text += '\n';
    ++*count;
    return true;
  });
  if (!scan.ok()) return false;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) return false;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

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
  const std::string state_file = data_dir + "/limits.jsonl";

  auto made = sluice::MemoryStore::Create({.max_keys = 1'000'000});
  if (!made.ok()) return Fail(made.status());
  std::shared_ptr<sluice::Store> store = std::move(*made);

  const Restored restored = Load(*store, state_file);
  std::cout << "== start: restored " << restored.restored << " keys from " << state_file << " (" << restored.expired
            << " expired, " << restored.invalid << " invalid)\n";

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

  int saved = 0;
  if (!Save(*store, data_dir, state_file, &saved)) {
    std::cerr << "sluice_demo: could not write " << state_file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout << "== saved " << saved << " keys to " << state_file << "; run again and the limits carry over\n";
  return 0;
}
