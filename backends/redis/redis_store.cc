// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Decisions run in Lua next to the state (backends/redis/lua/). Everything
// else reads the key's hash, runs the C++ logic, and commits with one
// compare-and-set script that checks the version each key had when it was
// read. Versions are random 64-bit tokens written with each change, so a key
// deleted and re-created never looks unchanged to a stale writer.

#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <algorithm>
#include <thread>
#include <vector>

#include "internal/backoff.h"
#include "internal/expiry.h"
#include "internal/state_fields.h"
#include "redis/batcher.h"
#include "redis/cluster_slot.h"
#include "redis/redis_client.h"
#include "redis/redis_record.h"
#include "redis/redis_scripts.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

// KEYS: the keys to write. ARGV[1]: their number; ARGV[2]: the time in ns
// (client-time mode) or '' (the server's TIME); then per key: expected
// version ('*' = any, '' = absent), new version, fencing token (0 = none;
// "r<N>" = raise the key's fence to N without checking it),
// action (put / del / keep), TTL in ms (0 = none), field count, fields.
// Returns {1} when applied, {0, i} when key i changed since it was read, and
// {-1, i, seen} when key i was written under a newer fencing token. Nothing is
// written unless every check passes.
//
// Fencing tokens are unsigned 64-bit decimals: Lua's doubles cannot hold them
// exactly, so they are compared as digit strings (canonical, no leading zeros).
constexpr std::string_view kCommitScript = R"lua(
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
-- The time that decides whether a stored value (and so its fence) is live:
-- ARGV[2] in client-time mode, the server's TIME otherwise.
local now = ARGV[2]
if now == '' then
  local t = redis.call('TIME')
  now = tostring(t[1]) .. string.format('%06d', tonumber(t[2])) .. '000'
end
-- A fence counts while its value lives: an expired value (still in Redis for
-- the TTL slack) has taken its fence with it, as in every store.
local function live_fence(key)
  local h = redis.call('HMGET', key, 'f', 'x')
  local f, x = h[1], h[2]
  if not f then return nil end
  if x and x ~= '0' and x ~= '9223372036854775807' and not newer(x, now) then return nil end
  return f
end
local n = tonumber(ARGV[1])
local pos = 3
local plan = {}
for i = 1, n do
  local expected = ARGV[pos]
  local fence = ARGV[pos + 2]
  -- "r<N>" raises the fence to N without checking it (import, Put).
  if string.sub(fence, 1, 1) == 'r' then fence = '0' end
  local nf = tonumber(ARGV[pos + 5])
  if expected ~= '*' then
    local current = redis.call('HGET', KEYS[i], 'v') or ''
    if current ~= expected then return {0, i} end
  end
  if fence ~= '0' then
    local seen = live_fence(KEYS[i])
    if seen and newer(seen, fence) then return {-1, i, seen} end
  end
  plan[i] = pos
  pos = pos + 6 + 2 * nf
end
for i = 1, n do
  local p = plan[i]
  local action = ARGV[p + 3]
  if action ~= 'keep' then
    local fence = live_fence(KEYS[i])
    local given = ARGV[p + 2]
    if string.sub(given, 1, 1) == 'r' then
      given = string.sub(given, 2)
      if given ~= '0' and (not fence or newer(given, fence)) then fence = given end
    elseif given ~= '0' then
      fence = given
    end
    redis.call('DEL', KEYS[i])
    if action == 'put' then
      local args = {'v', ARGV[p + 1]}
      local nf = tonumber(ARGV[p + 5])
      for j = 0, nf - 1 do
        args[#args + 1] = ARGV[p + 6 + 2 * j]
        args[#args + 1] = ARGV[p + 7 + 2 * j]
      end
      if fence then
        args[#args + 1] = 'f'
        args[#args + 1] = fence
      end
      redis.call('HSET', KEYS[i], unpack(args))
      local ttl = tonumber(ARGV[p + 4])
      if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
    end
    -- A deleted key takes its fence with it: fences live as long as values,
    -- so they never accumulate.
  end
end
return {1}
)lua";

// The scripts this store runs: the commit script, one decision script per
// algorithm (indexed by Algorithm value), the all-or-nothing script and the
// batch script.
enum ScriptId : size_t { kCommit = 0, kDecideAll = 6, kDecideBatch = 7, kScriptCount = 8 };

// Redis keeps a key this long past its exact expiry (the field `x`, which
// readers check): clients whose clocks lag the deciding clock, or a client
// clock that runs slower than the server's, must still find the state.
constexpr int64_t kTtlSlackMs = 1000;

// The store's Lua code, as scripts (EVALSHA) and as one Redis 7 function
// library (FCALL) holding the same entry points.
struct LuaCode {
  std::vector<std::string> scripts;    // by ScriptId
  std::vector<std::string> functions;  // by ScriptId; "" = script only
  std::string library;                 // "#!lua name=..." source
};

// FNV-1a, to version the library by its text: two sluice versions with
// different code load side by side instead of replacing each other's.
uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// STATE_FIELDS: each algorithm's state fields in the hash, in order, from the
// one state field table, so the Lua code and the C++ record layout cannot
// disagree on a name.
std::string LuaStateFields() {
  std::string lua = "local STATE_FIELDS = {";
  for (Algorithm a : {Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                      Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter}) {
    lua += std::string(AlgorithmName(a)) + " = {";
    internal::VisitStateType(a, [&](auto type) {
      for (const auto& field : internal::StateFields<typename decltype(type)::type>::kFields) {
        lua += "'" + std::string(field.redis_name) + "', ";
      }
    });
    lua += "}, ";
  }
  return lua + "}\n";
}

// A script runs its whole chunk on every call, so a decision script holds
// only the code of its own algorithm; the all-or-nothing and batch scripts
// hold all. The library runs its chunk once, when loaded.
LuaCode BuildLuaCode() {
  const std::string_view per_algorithm[] = {{},
                                            scripts::kTokenBucket,
                                            scripts::kGcra,
                                            scripts::kFixedWindow,
                                            scripts::kSlidingWindowLog,
                                            scripts::kSlidingWindowCounter};
  const std::string prelude = "local TTL_SLACK_MS = " + std::to_string(kTtlSlackMs) + "\n" + LuaStateFields() +
                              std::string(scripts::kBignum) + "\n" + std::string(scripts::kCommon) + "\n";
  LuaCode code;
  code.scripts.resize(kScriptCount);
  code.functions.resize(kScriptCount);
  code.scripts[kCommit] = std::string(kCommitScript);
  std::string all = prelude;
  for (Algorithm a : {Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                      Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter}) {
    const auto i = static_cast<size_t>(a);
    code.scripts[i] = prelude + std::string(per_algorithm[i]) + "\n" + std::string(scripts::kDecide) +
                      "\nreturn decide_one('" + std::string(AlgorithmName(a)) + "', KEYS, ARGV)\n";
    all += std::string(per_algorithm[i]) + "\n";
  }
  all += std::string(scripts::kDecide) + "\n";
  code.scripts[kDecideAll] = all + "return decide_all(KEYS, ARGV)\n";
  code.scripts[kDecideBatch] = all + "return decide_batch(KEYS, ARGV)\n";

  char version[17];
  std::snprintf(version, sizeof(version), "%016llx", static_cast<unsigned long long>(Fnv1a(all)));
  const std::string name = "sluice_" + std::string(version);
  std::string registrations;
  auto add = [&](size_t id, const std::string& suffix, const std::string& call) {
    code.functions[id] = name + "_" + suffix;
    registrations += "redis.register_function('" + code.functions[id] + "', function(keys, args) return " + call +
                     " end)\n";
  };
  for (Algorithm a : {Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                      Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter}) {
    const std::string algorithm(AlgorithmName(a));
    add(static_cast<size_t>(a), algorithm, "decide_one('" + algorithm + "', keys, args)");
  }
  add(kDecideAll, "all", "decide_all(keys, args)");
  add(kDecideBatch, "batch", "decide_batch(keys, args)");
  code.library = "#!lua name=" + name + "\n" + all + registrations;
  return code;
}

std::string_view OpName(Operation op) { return OperationName(op); }

// Reads "123" from a script reply element.
Result<int64_t> ParseInt(const Reply& r, std::string_view what) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  if (r.type != Reply::Type::kString || ec != std::errc() || ptr != r.str.data() + r.str.size()) {
    return DataLossError("redis decision script: " + std::string(what) + " is " + r.ToString());
  }
  return v;
}

// A decision from four reply elements starting at `at`: allowed, remaining,
// reset_after, retry_after (integers, or digits when beyond 2^52).
Result<Decision> ParseDecision(const Reply& reply, size_t at) {
  if (reply.type != Reply::Type::kArray || reply.elements.size() < at + 4) {
    return DataLossError("redis decision script: unexpected reply " + reply.ToString());
  }
  Decision d;
  SLUICE_ASSIGN_OR_RETURN(int64_t allowed, ParseInt(reply.elements[at], "allowed"));
  d.allowed = allowed == 1;
  SLUICE_ASSIGN_OR_RETURN(d.remaining, ParseInt(reply.elements[at + 1], "remaining"));
  SLUICE_ASSIGN_OR_RETURN(int64_t reset_after, ParseInt(reply.elements[at + 2], "reset_after"));
  SLUICE_ASSIGN_OR_RETURN(int64_t retry_after, ParseInt(reply.elements[at + 3], "retry_after"));
  d.reset_after = std::chrono::nanoseconds(reset_after);
  d.retry_after = std::chrono::nanoseconds(retry_after);
  return d;
}

// Escapes glob metacharacters for SCAN MATCH.
std::string GlobEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

struct Snapshot {
  std::string version;  // "" when the key is absent
  std::optional<Record> record;
};

struct Write {
  std::string redis_key;
  std::string expected_version;  // "*" = unconditional
  uint64_t fence = 0;
  bool raise_fence = false;  // raise the key's fence to `fence` instead of checking it
  enum class Action { kPut, kDelete, kKeep } action = Action::kKeep;
  HashFields fields;
  int64_t ttl_ms = 0;
};

enum class CommitResult { kApplied, kConflict };

using SteadyClock = std::chrono::steady_clock;

// A Decide call waiting in the batcher.
struct PendingDecision {
  const DecideRequest* request;
  std::optional<Result<Decision>> result;           // set by RunBatch
  std::optional<SteadyClock::time_point> deadline;  // none: no command timeout
};

// Server time in ns from a TIME reply: [seconds, microseconds].
Result<int64_t> ParseTime(const Reply& t);

class RedisStore final : public Store {
 public:
  RedisStore(const RedisStoreOptions& options, ClientOptions client_options)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
        client_(WithSkewCheck(std::move(client_options))),
        batcher_(static_cast<size_t>(options.max_batches_in_flight), static_cast<size_t>(options.max_batch),
                 [this](std::span<PendingDecision* const> batch) { RunBatch(batch); }) {
    LuaCode code = BuildLuaCode();
    // Registered in ScriptId order.
    for (size_t id = 0; id < kScriptCount; ++id) client_.AddScript(code.scripts[id], code.functions[id]);
    if (options.use_functions) client_.SetFunctionLibrary(std::move(code.library));
  }

  Status Init() { return client_.Connect(); }

  std::string_view name() const override { return "redis"; }
  Clock& clock() const override { return *clock_; }

  Result<Decision> Decide(const DecideRequest& request) override {
    SLUICE_RETURN_IF_ERROR(CheckRequest(request));
    PendingDecision pending{&request, std::nullopt, Deadline()};
    switch (batcher_.Submit(&pending, pending.deadline, options_.max_pending_commands)) {
      case Batcher<PendingDecision>::Outcome::kRun:
        return std::move(*pending.result);
      case Batcher<PendingDecision>::Outcome::kTimedOut:
        return NoBatchSlotError();
      case Batcher<PendingDecision>::Outcome::kQueueFull:
        break;
    }
    return QueueFullError();
  }

  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests) override {
    std::vector<PendingDecision> pending;
    pending.reserve(requests.size());
    std::vector<PendingDecision*> checked;
    // One deadline for the whole call, however many script calls it takes.
    const std::optional<SteadyClock::time_point> deadline = Deadline();
    for (const DecideRequest& request : requests) {
      pending.push_back({&request, std::nullopt, deadline});
      if (Status s = CheckRequest(request); !s.ok()) {
        pending.back().result = std::move(s);
      } else {
        checked.push_back(&pending.back());
      }
    }
    // Through the batcher, as one group: concurrent callers' decisions (the
    // daemon's requests are mostly batches of one) share script calls.
    if (!checked.empty()) {
      Status not_sent;
      switch (batcher_.Submit(std::span<PendingDecision* const>(checked), deadline, options_.max_pending_commands)) {
        case Batcher<PendingDecision>::Outcome::kRun:
          break;
        case Batcher<PendingDecision>::Outcome::kTimedOut:
          not_sent = NoBatchSlotError();
          break;
        case Batcher<PendingDecision>::Outcome::kQueueFull:
          not_sent = QueueFullError();
          break;
      }
      if (!not_sent.ok()) {
        for (PendingDecision* p : checked) p->result = not_sent;
      }
    }
    std::vector<Result<Decision>> out;
    out.reserve(pending.size());
    for (PendingDecision& p : pending) out.push_back(std::move(*p.result));
    return out;
  }

  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    if (requests.empty()) return MultiDecision{true, {}};
    std::vector<std::string> keys;
    std::vector<std::string> args;
    for (size_t i = 0; i < requests.size(); ++i) {
      SLUICE_RETURN_IF_ERROR(CheckRequest(requests[i]));
      for (size_t j = 0; j < i; ++j) {
        if (requests[j].key == requests[i].key) {
          return InvalidArgumentError("DecideAll: key \"" + std::string(requests[i].key) +
                                      "\" appears twice");
        }
      }
      keys.push_back(RedisKey(requests[i].key));
      if (client_.cluster() && KeySlot(keys.back()) != KeySlot(keys.front())) {
        return InvalidArgumentError("DecideAll on Redis Cluster: keys \"" + std::string(requests[0].key) +
                                    "\" and \"" + std::string(requests[i].key) +
                                    "\" are in different hash slots; give them one hash tag (StoreKey does)");
      }
    }
    args.push_back(NowArg());
    for (const DecideRequest& r : requests) {
      args.emplace_back(AlgorithmName(r.policy->algorithm));
      AppendRequestArgs(r, &args);
    }
    SLUICE_ASSIGN_OR_RETURN(Reply reply, client_.Eval(kDecideAll, keys, args));
    if (reply.is_error()) return UnavailableError("redis decision script: " + reply.str);
    if (reply.type != Reply::Type::kArray || reply.elements.size() != 1 + 4 * requests.size()) {
      return DataLossError("redis decision script: unexpected reply " + reply.ToString());
    }
    MultiDecision out;
    SLUICE_ASSIGN_OR_RETURN(int64_t allowed, ParseInt(reply.elements[0], "allowed"));
    out.allowed = allowed == 1;
    for (size_t i = 0; i < requests.size(); ++i) {
      SLUICE_ASSIGN_OR_RETURN(Decision d, ParseDecision(reply, 1 + 4 * i));
      d.limit = requests[i].policy->limit;
      out.decisions.push_back(d);
    }
    if (out.allowed) decisions_.fetch_add(requests.size(), std::memory_order_relaxed);
    return out;
  }

  Result<std::optional<Record>> AtomicUpdate(std::string_view key_view, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key_view));
    const std::string key(key_view);
    // Conflicting writers back off with full jitter over a window that grows
    // from 100 us to 10 ms, so they spread out instead of colliding again.
    // The waits are real time, not the injected clock: they pace threads
    // contending now (microseconds), and a simulated clock would never wake them.
    internal::Backoff backoff({.initial = std::chrono::microseconds(100),
                               .max_delay = std::chrono::milliseconds(10),
                               .max_attempts = options_.max_attempts,
                               .seed = static_cast<uint64_t>(tokens_.Uniform(INT64_MAX))},
                              Clock::Real());
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      SLUICE_ASSIGN_OR_RETURN(const int64_t now, Now(key));
      SLUICE_ASSIGN_OR_RETURN(Snapshot snap, Read(key, now));
      Update update = fn(snap.record ? &*snap.record : nullptr);
      Write write{RedisKey(key), snap.version, options.fencing_token, false, Write::Action::kKeep, {}, 0};
      std::optional<Record> after;
      switch (update.action) {
        case Update::Action::kKeep:
          if (options.fencing_token == 0) return snap.record;
          after = snap.record;
          break;  // still checks the fence
        case Update::Action::kDelete:
          write.action = Write::Action::kDelete;
          break;
        case Update::Action::kPut: {
          Record record{key, std::move(update.value), update.expires_at_ns,
                        options.fencing_token != 0 ? options.fencing_token
                                                   : (snap.record ? snap.record->fencing_token : 0)};
          SLUICE_RETURN_IF_ERROR(PreparePut(record, now, &write));
          if (write.action == Write::Action::kPut) after = std::move(record);
          break;
        }
      }
      SLUICE_ASSIGN_OR_RETURN(CommitResult result, Commit({write}));
      if (result == CommitResult::kApplied) return after;
      std::this_thread::sleep_for(backoff.NextDelay());
    }
    return Conflict(key);
  }

  Result<std::optional<Record>> Get(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    SLUICE_ASSIGN_OR_RETURN(const int64_t now, Now(key));
    SLUICE_ASSIGN_OR_RETURN(Snapshot snap, Read(std::string(key), now));
    (snap.record ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
    return std::move(snap.record);
  }

  Status Put(const Record& record) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(record.key));
    Write write{RedisKey(record.key), "*", record.fencing_token, true, Write::Action::kKeep, {}, 0};
    SLUICE_ASSIGN_OR_RETURN(const int64_t now, Now(record.key));
    SLUICE_RETURN_IF_ERROR(PreparePut(record, now, &write));
    return Commit({write}).status();
  }

  Status Delete(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    Write write{RedisKey(key), "*", 0, false, Write::Action::kDelete, {}, 0};
    return Commit({write}).status();
  }

  // SCAN on every master (never KEYS); each page's hashes are read in one
  // pipelined round trip. As with SCAN, a key moved between masters while
  // the scan runs may be visited twice or not at all.
  Status Scan(std::string_view prefix, const ScanVisitor& visit) override {
    const std::string pattern = GlobEscape(options_.key_prefix) + GlobEscape(prefix) + "*";
    bool stopped = false;
    SLUICE_RETURN_IF_ERROR(ForEachKey(pattern, [&](std::vector<std::string> redis_keys) -> Status {
      SLUICE_ASSIGN_OR_RETURN(const int64_t now, Now(""));
      std::vector<std::vector<std::string>> reads;
      for (std::string& redis_key : redis_keys) reads.push_back({"HGETALL", std::move(redis_key)});
      std::vector<Result<Reply>> hashes = client_.CallMany(reads, 1);
      for (size_t i = 0; i < hashes.size() && !stopped; ++i) {
        const std::string& redis_key = reads[i][1];
        if (redis_key.size() < options_.key_prefix.size()) continue;
        const std::string key = redis_key.substr(options_.key_prefix.size());
        SLUICE_ASSIGN_OR_RETURN(Snapshot snap, ToSnapshot(key, std::move(hashes[i]), now));
        if (snap.record && !visit(*snap.record)) stopped = true;
      }
      return Status::Ok();
    }, &stopped));
    return Status::Ok();
  }

  Status Flush() override { return Status::Ok(); }

  StoreStats Stats() const override {
    StoreStats stats;
    stats.hits = hits_.load();
    stats.misses = misses_.load();
    stats.decisions = decisions_.load();
    // One DBSIZE per master: a metrics scrape must not walk the keyspace.
    Result<std::vector<Endpoint>> masters = client_.Masters();
    if (masters.ok()) {
      for (const Endpoint& m : *masters) {
        Result<Reply> n = client_.CallAt(m, {"DBSIZE"});
        if (n.ok() && n->type == Reply::Type::kInteger && n->integer > 0) {
          stats.keys += static_cast<uint64_t>(n->integer);
        }
      }
    }
    return stats;
  }

  // One round trip per master, bounded by health_timeout: PING, or in
  // client-time mode TIME, which also measures the clock skew.
  Status Health() override {
    SLUICE_ASSIGN_OR_RETURN(std::vector<Endpoint> masters, client_.Masters());
    for (const Endpoint& m : masters) {
      if (options_.time_source == TimeSource::kClient) {
        SLUICE_RETURN_IF_ERROR(MeasureSkewAt(m, HealthTimeout()).status());
        continue;
      }
      SLUICE_ASSIGN_OR_RETURN(Reply pong, client_.CallAt(m, {"PING"}, HealthTimeout()));
      if (pong.is_error()) return UnavailableError("redis PING " + m.ToString() + ": " + pong.str);
    }
    return Status::Ok();
  }

  // health_timeout, or command_timeout when that is shorter.
  std::chrono::milliseconds HealthTimeout() const {
    if (options_.command_timeout.count() <= 0) return options_.health_timeout;
    return std::min(options_.health_timeout, options_.command_timeout);
  }

  // The skew of the clock from the first master's TIME, measured now.
  Result<std::chrono::nanoseconds> MeasureSkew() {
    SLUICE_ASSIGN_OR_RETURN(std::vector<Endpoint> masters, client_.Masters());
    return MeasureSkewAt(masters.at(0), options_.command_timeout);
  }

  // TIME on `server`, with this clock read before and after: the skew is the
  // midpoint of the two readings minus the server's time.
  Result<std::chrono::nanoseconds> MeasureSkewAt(const Endpoint& server, std::chrono::milliseconds timeout) {
    const int64_t before = clock_->NowNanos();
    SLUICE_ASSIGN_OR_RETURN(Reply t, client_.CallAt(server, {"TIME"}, timeout));
    const int64_t after = clock_->NowNanos();
    if (t.is_error()) return UnavailableError("redis TIME " + server.ToString() + ": " + t.str);
    SLUICE_ASSIGN_OR_RETURN(const int64_t server_ns, ParseTime(t));
    const std::chrono::nanoseconds skew(before + (after - before) / 2 - server_ns);
    ReportSkew(server, skew);
    return skew;
  }

 private:
  std::string RedisKey(std::string_view key) const { return options_.key_prefix + std::string(key); }

  // A call's deadline: command_timeout from now (none for no limit).
  std::optional<SteadyClock::time_point> Deadline() const {
    if (options_.command_timeout.count() <= 0) return std::nullopt;
    return SteadyClock::now() + options_.command_timeout;
  }

  // In client-time mode, each new connection's handshake is a TIME whose
  // reply gives the skew: this clock, read when the reply arrived, less half
  // the round trip, minus the server's time.
  ClientOptions WithSkewCheck(ClientOptions client) {
    if (options_.time_source != TimeSource::kClient) return client;
    client.handshake = {"TIME"};
    client.on_handshake = [this](const Endpoint& server, const Reply& reply, std::chrono::nanoseconds rtt) {
      const int64_t now = clock_->NowNanos();
      Result<int64_t> server_ns = ParseTime(reply);
      if (!server_ns.ok()) return;  // TIME refused: the skew stays unknown
      ReportSkew(server, std::chrono::nanoseconds(now - rtt.count() / 2 - *server_ns));
    };
    return client;
  }

  // Exports a measured skew, and warns when it is past the threshold: when
  // it gets there, then at most once a minute while it stays (Health()
  // measures at every readiness probe).
  void ReportSkew(const Endpoint& server, std::chrono::nanoseconds skew) {
    const Observer& observer = options_.observer;
    const std::string name = server.ToString();
    const MetricLabel labels[] = {{"store", "redis"}, {"server", name}};
    const double seconds = std::chrono::duration<double>(skew).count();
    observer.sink().SetGauge("sluice_store_clock_skew_seconds", labels, seconds);
    const bool skewed = std::chrono::abs(skew) > options_.clock_skew_warning;
    bool warn = false;
    {
      std::lock_guard<std::mutex> lock(skew_mu_);
      const SteadyClock::time_point now = SteadyClock::now();
      bool& was_skewed = skewed_[name];
      warn = skewed && (!was_skewed || now - last_skew_warning_ >= std::chrono::minutes(1));
      was_skewed = skewed;
      if (warn) last_skew_warning_ = now;
    }
    if (warn) {
      char text[64];
      std::snprintf(text, sizeof(text), "%.3f s %s", std::abs(seconds), seconds > 0 ? "ahead of" : "behind");
      observer.log().Log(LogLevel::kWarning, "redis",
                         "clock skew: this process's clock is " + std::string(text) + " the clock of " + name +
                             " (warning past " + std::to_string(options_.clock_skew_warning.count()) +
                             "ms); in client-time mode the clients' clocks decide, so skewed clients disagree on "
                             "windows and refills");
    }
  }

  // Calls `page` with each SCAN page of keys matching `pattern`, master by
  // master, until the scan ends, `page` fails, or `*stop` (when given) turns
  // true.
  Status ForEachKey(const std::string& pattern, const std::function<Status(std::vector<std::string>)>& page,
                    const bool* stop) const {
    SLUICE_ASSIGN_OR_RETURN(std::vector<Endpoint> masters, client_.Masters());
    for (const Endpoint& master : masters) {
      std::string cursor = "0";
      do {
        SLUICE_ASSIGN_OR_RETURN(Reply r, client_.CallAt(master, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}));
        if (r.type != Reply::Type::kArray || r.elements.size() != 2) {
          return DataLossError("redis SCAN on " + master.ToString() + ": unexpected reply " + r.ToString());
        }
        cursor = r.elements[0].str;
        std::vector<std::string> keys;
        for (Reply& k : r.elements[1].elements) keys.push_back(std::move(k.str));
        SLUICE_RETURN_IF_ERROR(page(std::move(keys)));
        if (stop != nullptr && *stop) return Status::Ok();
      } while (cursor != "0");
    }
    return Status::Ok();
  }

  // A request's script arguments after the algorithm: operation, cost,
  // limit, refill, interval, alignment, new version.
  void AppendRequestArgs(const DecideRequest& r, std::vector<std::string>* args) {
    const Policy& p = *r.policy;
    args->emplace_back(OpName(r.op));
    args->push_back(std::to_string(r.cost));
    args->push_back(std::to_string(p.limit));
    args->push_back(std::to_string(p.refill_amount));
    args->push_back(std::to_string(p.interval.count()));
    args->emplace_back(WindowAlignmentName(p.alignment));
    args->push_back(NewVersion());
  }

  // Why a decision queued for the batcher was not sent.
  Status NoBatchSlotError() const {
    return UnavailableError("redis: no batch slot within the command timeout (" +
                            std::to_string(options_.command_timeout.count()) +
                            "ms): Redis is slow or unreachable; the decision was not sent");
  }
  Status QueueFullError() const {
    const MetricLabel labels[] = {{"server", "batcher"}};
    client_.observer().sink().Increment("sluice_redis_queue_rejections_total", labels);
    return UnavailableError("redis: " + std::to_string(options_.max_pending_commands) +
                            " decisions already wait for a batch (max_pending_commands); the decision was not sent");
  }

  // Decides a batch of checked requests in as few script calls as possible:
  // a lone request runs its algorithm's script; several run as one batch
  // script per hash slot (a Cluster script may only touch one slot), and the
  // calls go out pipelined.
  void RunBatch(std::span<PendingDecision* const> all) {
    // Decisions whose time ran out while they waited are not sent; the rest
    // go out with the least time any of them has left.
    std::vector<PendingDecision*> live;
    std::optional<SteadyClock::time_point> deadline;
    const SteadyClock::time_point now_steady = SteadyClock::now();
    for (PendingDecision* p : all) {
      if (p->deadline && *p->deadline <= now_steady) {
        p->result = UnavailableError("redis: the decision's time ran out before it was sent");
        continue;
      }
      live.push_back(p);
      if (p->deadline && (!deadline || *p->deadline < *deadline)) deadline = p->deadline;
    }
    if (live.empty()) return;
    std::optional<std::chrono::milliseconds> timeout;
    if (deadline) timeout = std::max(std::chrono::ceil<std::chrono::milliseconds>(*deadline - now_steady),
                                     std::chrono::milliseconds(1));
    const std::span<PendingDecision* const> batch(live);
    std::vector<std::vector<PendingDecision*>> groups;
    if (!client_.cluster()) {
      groups.emplace_back(batch.begin(), batch.end());
    } else {
      std::map<uint16_t, size_t> by_slot;
      for (PendingDecision* p : batch) {
        auto [it, added] = by_slot.emplace(KeySlot(RedisKey(p->request->key)), groups.size());
        if (added) groups.emplace_back();
        groups[it->second].push_back(p);
      }
    }
    const std::string now = NowArg();
    std::vector<EvalCall> calls(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      EvalCall& call = calls[g];
      call.argv.push_back(now);
      if (groups[g].size() == 1) {
        const DecideRequest& r = *groups[g][0]->request;
        call.script = static_cast<size_t>(r.policy->algorithm);
        call.keys.push_back(RedisKey(r.key));
        AppendRequestArgs(r, &call.argv);
        continue;
      }
      call.script = kDecideBatch;
      for (PendingDecision* p : groups[g]) {
        call.keys.push_back(RedisKey(p->request->key));
        call.argv.emplace_back(AlgorithmName(p->request->policy->algorithm));
        AppendRequestArgs(*p->request, &call.argv);
      }
    }
    // A batch whose slot is half migrated gets TRYAGAIN until the migration
    // ends; its decisions then go one by one (each follows ASK), so callers
    // never wait for a resharding.
    std::vector<Result<Reply>> replies;
    if (calls.size() == 1) {
      replies.push_back(client_.Eval(calls[0].script, calls[0].keys, calls[0].argv, timeout, false));
    } else {
      replies = client_.EvalMany(calls, false, timeout);
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].size() > 1 && replies[g].ok() && replies[g]->IsErrorWithPrefix("TRYAGAIN")) {
        std::vector<PendingDecision*> group = groups[g];
        const Observer& observer = client_.observer();
        observer.sink().Increment("sluice_redis_batch_splits_total");
        if (observer.log().Enabled(LogLevel::kInfo)) {
          observer.log().Log(LogLevel::kInfo, "redis",
                             "slot migration in progress (TRYAGAIN): sending a batch of " +
                                 std::to_string(group.size()) + " decisions one by one");
        }
        for (PendingDecision* p : group) RunBatch(std::span<PendingDecision* const>(&p, 1));
        continue;
      }
      for (size_t j = 0; j < groups[g].size(); ++j) {
        PendingDecision& p = *groups[g][j];
        const Result<Reply>& reply = replies[g];
        if (!reply.ok()) {
          p.result = reply.status();
        } else if (reply->is_error()) {
          p.result = UnavailableError("redis decision script: " + reply->str);
        } else {
          Result<Decision> d = ParseDecision(*reply, 4 * j);
          if (d.ok()) {
            d->limit = p.request->policy->limit;
            decisions_.fetch_add(1, std::memory_order_relaxed);
          }
          p.result = std::move(d);
        }
      }
    }
  }

  Status Conflict(const std::string& key) const {
    return AbortedError("redis key \"" + key + "\" kept changing; gave up after " +
                        std::to_string(options_.max_attempts) + " attempts");
  }

  Result<Snapshot> Read(const std::string& key, int64_t now) {
    const std::string redis_key = RedisKey(key);
    return ToSnapshot(key, client_.CallKey(redis_key, {"HGETALL", redis_key}), now);
  }

  // A key's record and version from its HGETALL reply.
  static Result<Snapshot> ToSnapshot(const std::string& key, Result<Reply> reply, int64_t now) {
    if (!reply.ok()) return std::move(reply).status();
    if (reply->is_error()) return UnavailableError("redis HGETALL: " + reply->str);
    SLUICE_ASSIGN_OR_RETURN(HashMap fields, ToHashMap(*reply));
    Snapshot snap;
    if (auto it = fields.find("v"); it != fields.end()) snap.version = it->second;
    SLUICE_ASSIGN_OR_RETURN(snap.record, DecodeRecordFields(key, fields, now));
    return snap;
  }

  // Checks what the scripts take on trust: the policy, the key and the cost
  // (with the same messages as Evaluate).
  Status CheckRequest(const DecideRequest& request) const {
    if (request.policy == nullptr) return InvalidArgumentError("DecideRequest.policy is required");
    SLUICE_RETURN_IF_ERROR(ValidateKey(request.key));
    std::optional<LimiterState> scratch;
    return Evaluate(*request.policy, scratch, request.op, request.cost, 0).status();
  }

  // The time for non-decision operations on `key`: the client's clock, or
  // the TIME of the server holding the key (one more round trip, on cold
  // paths only).
  Result<int64_t> Now(std::string_view key) {
    if (options_.time_source == TimeSource::kClient) return ClientNow();
    SLUICE_ASSIGN_OR_RETURN(Reply t, client_.CallKey(RedisKey(key), {"TIME"}));
    return ParseTime(t);
  }

  // The script's `now` argument: empty for the server's TIME.
  std::string NowArg() {
    return options_.time_source == TimeSource::kClient ? std::to_string(ClientNow()) : std::string();
  }

  // The client clock, never earlier than the latest time this store used: a
  // clock stepping back is time standing still, so a key that a later time
  // saw expire stays expired, as in every store.
  int64_t ClientNow() {
    const int64_t now = clock_->NowNanos();
    int64_t latest = latest_client_ns_.load(std::memory_order_relaxed);
    while (now > latest && !latest_client_ns_.compare_exchange_weak(latest, now, std::memory_order_relaxed)) {
    }
    return std::max(now, latest);
  }

  // Fills `write` to store `record` (validated), or to delete the key when the
  // record has already expired.
  Status PreparePut(const Record& record, int64_t now, Write* write) {
    if (const auto* lr = std::get_if<LimiterRecord>(&record.value)) {
      SLUICE_RETURN_IF_ERROR(
          ValidateState(lr->policy, lr->state, now).WithContext("record \"" + record.key + "\""));
      Record normalised = record;
      normalised.expires_at_ns = ExpiresAt(lr->policy, lr->state);
      return PrepareFields(normalised, now, write);
    }
    return PrepareFields(record, now, write);
  }

  Status PrepareFields(const Record& record, int64_t now, Write* write) {
    if (internal::IsExpired(record.expires_at_ns, now)) {
      write->action = Write::Action::kDelete;
      return Status::Ok();
    }
    write->action = Write::Action::kPut;
    write->fields = EncodeRecordFields(record);
    // The server keeps the key as long as the deciding clock says it lives
    // (rounded up to whole milliseconds) plus the slack, so nothing outlives
    // its state for long.
    // No TTL for no expiry, nor for the end of time (an expiry that never passes).
    write->ttl_ms = record.expires_at_ns == 0 || record.expires_at_ns == internal::kEndOfTimeNs
                        ? 0
                        : (record.expires_at_ns - now + 999'999) / 1'000'000 + kTtlSlackMs;
    return Status::Ok();
  }

  Result<CommitResult> Commit(const std::vector<Write>& writes) {
    std::vector<std::string> keys;
    for (const Write& w : writes) keys.push_back(w.redis_key);
    std::vector<std::string> args = {std::to_string(writes.size()), NowArg()};
    for (const Write& w : writes) {
      args.push_back(w.expected_version);
      args.push_back(NewVersion());
      args.push_back((w.raise_fence ? "r" : "") + std::to_string(w.fence));
      args.push_back(w.action == Write::Action::kPut      ? "put"
                     : w.action == Write::Action::kDelete ? "del"
                                                          : "keep");
      args.push_back(std::to_string(w.ttl_ms));
      args.push_back(std::to_string(w.fields.size()));
      for (const auto& [name, value] : w.fields) {
        args.push_back(name);
        args.push_back(value);
      }
    }
    SLUICE_ASSIGN_OR_RETURN(Reply reply, client_.Eval(kCommit, keys, args));
    if (reply.is_error()) return UnavailableError("redis commit script: " + reply.str);
    if (reply.type != Reply::Type::kArray || reply.elements.empty()) {
      return DataLossError("redis commit script: unexpected reply " + reply.ToString());
    }
    const int64_t code = reply.elements[0].integer;
    if (code == 1) return CommitResult::kApplied;
    if (code == 0) return CommitResult::kConflict;
    const std::string seen = reply.elements.size() > 2 ? reply.elements[2].str : "?";
    return FailedPreconditionError("fencing token " + std::to_string(writes[0].fence) +
                                   " is older than token " + seen + " that already wrote this key");
  }

  // A write version no other write uses: a random 64-bit start per store,
  // counted up, so versions of different stores (and processes) collide with
  // negligible probability, without a lock or a random draw per decision.
  std::string NewVersion() {
    static constexpr char kHex[] = "0123456789abcdef";
    uint64_t v = next_version_.fetch_add(1, std::memory_order_relaxed);
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = kHex[v & 15];
    return out;
  }

  const RedisStoreOptions options_;
  Clock* clock_;
  // Declared before client_: its I/O thread reports skews until it stops.
  std::mutex skew_mu_;
  std::map<std::string, bool> skewed_;             // guarded by skew_mu_: by server, past the threshold
  SteadyClock::time_point last_skew_warning_{};  // guarded by skew_mu_
  mutable RedisClient client_;
  RandomTokens tokens_;
  std::atomic<uint64_t> next_version_{std::stoull(tokens_.Next(1), nullptr, 16)};
  Batcher<PendingDecision> batcher_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, decisions_{0};
  std::atomic<int64_t> latest_client_ns_{INT64_MIN};
};

Result<int64_t> ParseTime(const Reply& t) {
  if (t.type != Reply::Type::kArray || t.elements.size() != 2) {
    return DataLossError("redis TIME: unexpected reply " + t.ToString());
  }
  SLUICE_ASSIGN_OR_RETURN(int64_t seconds, ParseInt(t.elements[0], "TIME seconds"));
  SLUICE_ASSIGN_OR_RETURN(int64_t micros, ParseInt(t.elements[1], "TIME microseconds"));
  return seconds * 1'000'000'000 + micros * 1'000;
}

}  // namespace

Result<std::chrono::nanoseconds> MeasureClockSkew(Store& store) {
  auto* redis = dynamic_cast<RedisStore*>(&store);
  if (redis == nullptr) {
    return InvalidArgumentError("MeasureClockSkew: store \"" + std::string(store.name()) +
                                "\" was not made by CreateRedisStore");
  }
  return redis->MeasureSkew();
}

Result<std::unique_ptr<Store>> CreateRedisStore(const RedisStoreOptions& options) {
  ClientOptions client;
  constexpr std::string_view kCluster = "redis+cluster://";
  if (std::string_view(options.uri).substr(0, kCluster.size()) == kCluster) {
    client.cluster = true;
    std::string_view seeds = std::string_view(options.uri).substr(kCluster.size());
    if (const size_t slash = seeds.find('/'); slash != std::string_view::npos) seeds = seeds.substr(0, slash);
    while (!seeds.empty()) {
      const size_t comma = seeds.find(',');
      SLUICE_ASSIGN_OR_RETURN(Endpoint e, Endpoint::Parse("redis://" + std::string(seeds.substr(0, comma))));
      client.seeds.push_back(std::move(e));
      seeds = comma == std::string_view::npos ? std::string_view() : seeds.substr(comma + 1);
    }
    if (client.seeds.empty()) {
      return InvalidArgumentError("redis endpoint \"" + options.uri + "\": expected redis+cluster://host:port[,host:port...]");
    }
  } else {
    SLUICE_ASSIGN_OR_RETURN(Endpoint e, Endpoint::Parse(options.uri));
    client.seeds.push_back(std::move(e));
  }
  if (options.max_attempts < 1) return InvalidArgumentError("RedisStoreOptions.max_attempts must be at least 1");
  if (options.connections_per_node < 1) {
    return InvalidArgumentError("RedisStoreOptions.connections_per_node must be at least 1");
  }
  if (options.max_batch < 1 || options.max_batches_in_flight < 1) {
    return InvalidArgumentError("RedisStoreOptions.max_batch and max_batches_in_flight must be at least 1");
  }
  if (options.reconnect_backoff_initial.count() < 0 || options.reconnect_backoff_max.count() < 0 ||
      options.connect_timeout.count() <= 0 || options.command_timeout.count() < 0 ||
      options.health_timeout.count() <= 0 || options.clock_skew_warning.count() < 0) {
    return InvalidArgumentError(
        "RedisStoreOptions: connect_timeout and health_timeout must be positive; command_timeout, "
        "reconnect_backoff_initial, reconnect_backoff_max and clock_skew_warning must not be negative");
  }
  client.reconnect_backoff_initial = options.reconnect_backoff_initial;
  client.reconnect_backoff_max = options.reconnect_backoff_max;
  client.max_pending_commands = options.max_pending_commands;
  client.max_pending_bytes = options.max_pending_bytes;
  client.connections_per_node = options.connections_per_node;
  client.connect_timeout = options.connect_timeout;
  client.command_timeout = options.command_timeout;
  client.observer = options.observer;
  auto store = std::make_unique<RedisStore>(options, std::move(client));
  SLUICE_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace sluice::redis
