// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/store_uri.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "sluice/duration.h"
#include "sluice/memory_store.h"
#include "sluice/status.h"
#ifdef SLUICE_HAVE_REDIS
#include "sluice/backends/redis.h"
#endif
#ifdef SLUICE_HAVE_ROCKSDB
#include "sluice/backends/rocksdb.h"
#endif

namespace sluice {
namespace {

// Each scheme's query keys, so an unknown or misspelled key is an error that
// names the keys the scheme takes instead of being silently ignored.
struct SchemeInfo {
  std::string_view scheme;
  std::string_view keys;  // comma-separated
};
// The three Redis schemes take the same keys.
constexpr std::string_view kRedisKeys =
    "prefix,time,connect_timeout,command_timeout,connections,max_batch,reconnect_backoff,reconnect_backoff_max,"
    "max_pending_commands,max_pending_bytes,clock_skew_warning,health_timeout";
constexpr SchemeInfo kSchemes[] = {
    {"memory", "shards,max_keys,sweep_interval"},
    {"rocksdb", "sync,sync_interval,cache_records,block_cache_bytes"},
    {"redis", kRedisKeys},
    {"redis+unix", kRedisKeys},
    {"redis+cluster", kRedisKeys},
};

const SchemeInfo* FindScheme(std::string_view scheme) {
  for (const SchemeInfo& info : kSchemes) {
    if (info.scheme == scheme) return &info;
  }
  return nullptr;
}

bool KeyAllowed(const SchemeInfo& info, std::string_view key) {
  std::string_view keys = info.keys;
  while (!keys.empty()) {
    const size_t comma = keys.find(',');
    if (keys.substr(0, comma) == key) return true;
    if (comma == std::string_view::npos) break;
    keys.remove_prefix(comma + 1);
  }
  return false;
}

Result<std::string> PercentDecode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size() ||
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr != text.data() + i + 3) {
      return InvalidArgumentError("store URI: bad percent escape in " + std::string(what));
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

class QueryReader {
 public:
  explicit QueryReader(const StoreUri& uri) : uri_(uri) {}

  const std::string* Find(std::string_view key) const {
    for (const auto& [k, v] : uri_.query) {
      if (k == key) return &v;
    }
    return nullptr;
  }

  Status Uint(std::string_view key, uint64_t max, uint64_t* out) const {
    const std::string* v = Find(key);
    if (v == nullptr) return Status::Ok();
    uint64_t parsed = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
    if (ec != std::errc() || ptr != v->data() + v->size() || parsed > max) {
      return InvalidArgumentError("store URI: " + std::string(key) + "=\"" + *v +
                                  "\" is not a whole number up to " + std::to_string(max));
    }
    *out = parsed;
    return Status::Ok();
  }

  template <class Duration>
  Status Time(std::string_view key, Duration* out) const {
    const std::string* v = Find(key);
    if (v == nullptr) return Status::Ok();
    Result<std::chrono::nanoseconds> d = ParseDuration(*v);
    if (!d.ok()) {
      return InvalidArgumentError("store URI: " + std::string(key) + "=\"" + *v + "\": " +
                                  std::string(d.status().message()));
    }
    *out = std::chrono::duration_cast<Duration>(*d);
    return Status::Ok();
  }

 private:
  const StoreUri& uri_;
};

Result<std::unique_ptr<Store>> OpenMemory(const StoreUri& uri, const StoreOpenOptions& options) {
  QueryReader q(uri);
  MemoryStoreOptions o;
  o.clock = options.clock;
  o.observer = options.observer;
  uint64_t shards = o.shards;
  uint64_t max_keys = o.max_keys;
  SLUICE_RETURN_IF_ERROR(q.Uint("shards", 1u << 16, &shards));
  SLUICE_RETURN_IF_ERROR(q.Uint("max_keys", std::numeric_limits<uint32_t>::max(), &max_keys));
  SLUICE_RETURN_IF_ERROR(q.Time("sweep_interval", &o.sweep_interval));
  o.shards = shards;
  o.max_keys = max_keys;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<MemoryStore> store, MemoryStore::Create(o));
  return std::unique_ptr<Store>(std::move(store));
}

#ifdef SLUICE_HAVE_ROCKSDB
Result<std::unique_ptr<Store>> OpenRocksDb(const StoreUri& uri, const StoreOpenOptions& options) {
  QueryReader q(uri);
  rocksdb::RocksDbStoreOptions o;
  o.path = uri.location;
  o.clock = options.clock;
  o.observer = options.observer;
  if (const std::string* sync = q.Find("sync")) {
    if (*sync == "none") {
      o.sync = rocksdb::SyncMode::kNone;
    } else if (*sync == "every_write") {
      o.sync = rocksdb::SyncMode::kEveryWrite;
    } else if (*sync == "periodic") {
      o.sync = rocksdb::SyncMode::kPeriodic;
    } else {
      return InvalidArgumentError("store URI: sync=\"" + *sync + "\" (expected none, every_write or periodic)");
    }
  }
  SLUICE_RETURN_IF_ERROR(q.Time("sync_interval", &o.sync_interval));
  uint64_t cache_records = o.cache_records;
  uint64_t block_cache = o.block_cache_bytes;
  SLUICE_RETURN_IF_ERROR(q.Uint("cache_records", 1u << 30, &cache_records));
  SLUICE_RETURN_IF_ERROR(q.Uint("block_cache_bytes", uint64_t{1} << 40, &block_cache));
  o.cache_records = cache_records;
  o.block_cache_bytes = block_cache;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::RocksDbStore> store, rocksdb::CreateRocksDbStore(o));
  return std::unique_ptr<Store>(std::move(store));
}
#endif

#ifdef SLUICE_HAVE_REDIS
Result<std::unique_ptr<Store>> OpenRedis(const StoreUri& uri, const StoreOpenOptions& options) {
  QueryReader q(uri);
  redis::RedisStoreOptions o;
  if (uri.scheme == "redis") {
    o.uri = "redis://" + uri.location;
  } else if (uri.scheme == "redis+unix") {
    o.uri = "unix://" + uri.location;
  } else {
    o.uri = "redis+cluster://" + uri.location;
  }
  o.clock = options.clock;
  o.observer = options.observer;
  if (const std::string* prefix = q.Find("prefix")) o.key_prefix = *prefix;
  if (const std::string* time = q.Find("time")) {
    if (*time == "server") {
      o.time_source = redis::TimeSource::kServer;
    } else if (*time == "client") {
      o.time_source = redis::TimeSource::kClient;
    } else {
      return InvalidArgumentError("store URI: time=\"" + *time + "\" (expected server or client)");
    }
  }
  SLUICE_RETURN_IF_ERROR(q.Time("connect_timeout", &o.connect_timeout));
  SLUICE_RETURN_IF_ERROR(q.Time("command_timeout", &o.command_timeout));
  SLUICE_RETURN_IF_ERROR(q.Time("reconnect_backoff", &o.reconnect_backoff_initial));
  SLUICE_RETURN_IF_ERROR(q.Time("reconnect_backoff_max", &o.reconnect_backoff_max));
  SLUICE_RETURN_IF_ERROR(q.Time("clock_skew_warning", &o.clock_skew_warning));
  SLUICE_RETURN_IF_ERROR(q.Time("health_timeout", &o.health_timeout));
  uint64_t max_pending_commands = o.max_pending_commands;
  uint64_t max_pending_bytes = o.max_pending_bytes;
  SLUICE_RETURN_IF_ERROR(q.Uint("max_pending_commands", uint64_t{1} << 20, &max_pending_commands));
  SLUICE_RETURN_IF_ERROR(q.Uint("max_pending_bytes", uint64_t{1} << 34, &max_pending_bytes));
  o.max_pending_commands = static_cast<size_t>(max_pending_commands);
  o.max_pending_bytes = static_cast<size_t>(max_pending_bytes);
  uint64_t connections = static_cast<uint64_t>(o.connections_per_node);
  uint64_t max_batch = static_cast<uint64_t>(o.max_batch);
  SLUICE_RETURN_IF_ERROR(q.Uint("connections", 64, &connections));
  SLUICE_RETURN_IF_ERROR(q.Uint("max_batch", 4096, &max_batch));
  o.connections_per_node = static_cast<int>(connections);
  o.max_batch = static_cast<int>(max_batch);
  return redis::CreateRedisStore(o);
}
#endif

}  // namespace

Result<StoreUri> ParseStoreUri(std::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgumentError("store URI \"" + std::string(uri) +
                                "\" has no scheme (expected memory:, rocksdb:PATH, redis://HOST:PORT, "
                                "redis+unix:///PATH or redis+cluster://HOST:PORT,...)");
  }
  StoreUri out;
  out.scheme = std::string(uri.substr(0, colon));
  const SchemeInfo* info = FindScheme(out.scheme);
  if (info == nullptr) {
    return InvalidArgumentError("store URI \"" + std::string(uri) + "\": unknown scheme \"" + out.scheme +
                                "\" (expected memory, rocksdb, redis, redis+unix or redis+cluster)");
  }
  std::string_view rest = uri.substr(colon + 1);
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.starts_with("//")) rest.remove_prefix(2);
  SLUICE_ASSIGN_OR_RETURN(out.location, PercentDecode(rest, "the location"));
  if (out.scheme == "memory" && !out.location.empty()) {
    return InvalidArgumentError("store URI \"" + std::string(uri) + "\": memory: takes no location");
  }
  if (out.scheme != "memory" && out.location.empty()) {
    return InvalidArgumentError("store URI \"" + std::string(uri) + "\": " + out.scheme +
                                (out.scheme == "rocksdb" ? " needs a directory" : " needs an address"));
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError("store URI: query item \"" + std::string(pair) + "\" is not key=value");
    }
    SLUICE_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq), "a query key"));
    SLUICE_ASSIGN_OR_RETURN(std::string value, PercentDecode(pair.substr(eq + 1), "a query value"));
    if (!KeyAllowed(*info, key)) {
      return InvalidArgumentError("store URI: unknown query key \"" + key + "\" for " + out.scheme + ": (expected " +
                                  std::string(info->keys) + ")");
    }
    for (const auto& [k, v] : out.query) {
      if (k == key) return InvalidArgumentError("store URI: query key \"" + key + "\" given twice");
    }
    out.query.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

bool IsInProcessStore(const StoreUri& uri) { return uri.scheme == "memory"; }

bool IsRemoteStore(const StoreUri& uri) { return uri.scheme.starts_with("redis"); }

Result<std::unique_ptr<Store>> OpenStore(std::string_view uri, const StoreOpenOptions& options) {
  SLUICE_ASSIGN_OR_RETURN(StoreUri parsed, ParseStoreUri(uri));
  if (parsed.scheme == "memory") return OpenMemory(parsed, options);
  if (parsed.scheme == "rocksdb") {
#ifdef SLUICE_HAVE_ROCKSDB
    return OpenRocksDb(parsed, options);
#else
    return NotSupportedError("store URI \"" + std::string(uri) + "\": this build has no RocksDB store");
#endif
  }
#ifdef SLUICE_HAVE_REDIS
  return OpenRedis(parsed, options);
#else
  return NotSupportedError("store URI \"" + std::string(uri) + "\": this build has no Redis store");
#endif
}

std::vector<std::string> SupportedStoreSchemes() {
  std::vector<std::string> out = {"memory"};
#ifdef SLUICE_HAVE_ROCKSDB
  out.emplace_back("rocksdb");
#endif
#ifdef SLUICE_HAVE_REDIS
  out.emplace_back("redis");
  out.emplace_back("redis+unix");
  out.emplace_back("redis+cluster");
#endif
  return out;
}

}  // namespace sluice
