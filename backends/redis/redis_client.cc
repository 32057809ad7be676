// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/redis_client.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <optional>
#include <thread>

#include "redis/cluster_slot.h"

namespace sluice::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381".
struct Redirect {
  bool ask = false;
  uint16_t slot = 0;
  Endpoint endpoint;
};

std::optional<Redirect> ParseRedirect(const Reply& reply, const Endpoint& from) {
  Redirect r;
  std::string_view text = reply.str;
  if (reply.IsErrorWithPrefix("MOVED ")) {
    text.remove_prefix(6);
  } else if (reply.IsErrorWithPrefix("ASK ")) {
    r.ask = true;
    text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const size_t space = text.find(' ');
  const size_t colon = text.rfind(':');
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space) return std::nullopt;
  unsigned slot = 0, port = 0;
  const std::string_view slot_text = text.substr(0, space), port_text = text.substr(colon + 1);
  if (std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot).ec != std::errc() ||
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port).ec != std::errc() ||
      slot >= kClusterSlots || port == 0 || port > 65535) {
    return std::nullopt;
  }
  r.slot = static_cast<uint16_t>(slot);
  // An empty host means "the host you asked".
  r.endpoint.host = std::string(text.substr(space + 1, colon - space - 1));
  if (r.endpoint.host.empty()) r.endpoint.host = from.host;
  r.endpoint.port = static_cast<uint16_t>(port);
  return r;
}

// Errors after which the command did not run and the cluster asks to retry.
bool IsTransientClusterError(const Reply& reply) {
  return reply.IsErrorWithPrefix("TRYAGAIN") || reply.IsErrorWithPrefix("CLUSTERDOWN");
}

// Whether a result must go through the routed path again: a redirection, a
// transient cluster error, or a command that was never sent.
bool NeedsRouting(const Result<Reply>& r) {
  if (!r.ok()) return r.status().code() == StatusCode::kUnavailable;
  return r->IsErrorWithPrefix("MOVED ") || r->IsErrorWithPrefix("ASK ") || IsTransientClusterError(*r);
}

}  // namespace

// Where the I/O thread leaves a reply for the caller waiting on it. The
// caller first spins briefly: a round trip on loopback is often shorter than
// putting a thread to sleep and waking it again, which on a VM costs tens of
// microseconds per call.
struct ReplySlot {
  void Set(Result<Reply> r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      reply = std::move(r);
      ready.store(true, std::memory_order_release);
    }
    cv.notify_one();
  }

  // False if no reply came within `timeout` (0: wait for ever).
  bool Wait(milliseconds timeout) {
    const auto spin_until = SteadyClock::now() + std::chrono::microseconds(kSpinMicros);
    while (!ready.load(std::memory_order_acquire) && SteadyClock::now() < spin_until) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu);
    auto is_ready = [&] { return ready.load(std::memory_order_relaxed); };
    if (timeout.count() == 0) {
      cv.wait(lock, is_ready);
      return true;
    }
    return cv.wait_for(lock, timeout, is_ready);
  }

  static constexpr int kSpinMicros = 150;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> ready{false};
  std::optional<Result<Reply>> reply;  // guarded by mu; set once
};

// A pool of pipelined connections to one server, used round robin.
class RedisClient::Node {
 public:
  Node(IoThread& io, Endpoint endpoint, int size, milliseconds connect_timeout, const Observer& observer)
      : endpoint_(std::move(endpoint)), io_(io), connect_timeout_(connect_timeout), observer_(observer),
        connections_(static_cast<size_t>(std::max(size, 1))) {}

  const Endpoint& endpoint() const { return endpoint_; }

  Result<std::shared_ptr<Connection>> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<Connection>& conn = connections_[next_++ % connections_.size()];
    if (conn == nullptr || !conn->connected()) {
      // A connection that existed and broke is a degraded path worth seeing
      // in logs and metrics; the first connect is not.
      const bool reconnect = conn != nullptr;
      Result<std::shared_ptr<Connection>> fresh = Connection::Connect(io_, endpoint_, connect_timeout_);
      if (reconnect) {
        const MetricLabel labels[] = {{"outcome", fresh.ok() ? "ok" : "failed"}};
        observer_.sink().Increment("sluice_redis_reconnects_total", labels);
        if (!fresh.ok() || observer_.log().Enabled(LogLevel::kInfo)) {
          observer_.log().Log(fresh.ok() ? LogLevel::kInfo : LogLevel::kWarning, "redis",
                              "reconnect to " + endpoint_.ToString() +
                                  (fresh.ok() ? std::string(": ok") : ": " + fresh.status().ToString()));
        }
      }
      SLUICE_ASSIGN_OR_RETURN(conn, std::move(fresh));
    }
    return conn;
  }

  // Sends and waits at most `timeout` (0: no limit). A connection that timed
  // out is closed: its server may be hung, and the next call reconnects.
  Result<Reply> Call(const std::vector<std::string>& args, bool asking, milliseconds timeout) {
    SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Get());
    auto slot = std::make_shared<ReplySlot>();
    auto done = [slot](Result<Reply> r) { slot->Set(std::move(r)); };
    if (asking) {
      conn->SendAsking(args, std::move(done));
    } else {
      conn->Send(args, std::move(done));
    }
    if (!slot->Wait(timeout)) {
      conn->Close();
      return DeadlineExceededError("redis " + endpoint_.ToString() + ": no reply within " +
                                   std::to_string(timeout.count()) + "ms; the command may still run");
    }
    return std::move(*slot->reply);
  }

 private:
  const Endpoint endpoint_;
  IoThread& io_;
  const milliseconds connect_timeout_;
  const Observer observer_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  size_t next_ = 0;                                       // guarded by mu_
};

// Which master serves each slot. Immutable once published.
struct RedisClient::SlotMap {
  std::vector<std::shared_ptr<Node>> masters;
  std::array<uint16_t, kClusterSlots> owner{};  // index into masters + 1; 0 = unserved
};

RedisClient::RedisClient(ClientOptions options) : options_(std::move(options)) {
  if (!options_.cluster && !options_.seeds.empty()) standalone_ = NodeAt(options_.seeds[0]);
}

RedisClient::RedisClient(Endpoint endpoint, milliseconds connect_timeout)
    : RedisClient(ClientOptions{.seeds = {std::move(endpoint)}, .connect_timeout = connect_timeout}) {}

RedisClient::~RedisClient() = default;

Status RedisClient::Connect() {
  if (options_.seeds.empty()) return InvalidArgumentError("redis: no server given");
  if (options_.cluster) return RefreshSlots();
  return standalone_->Get().status();
}

std::shared_ptr<RedisClient::Node> RedisClient::NodeAt(const Endpoint& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node>& node = nodes_[endpoint.ToString()];
  if (node == nullptr) {
    node = std::make_shared<Node>(io_, endpoint, options_.connections_per_node, options_.connect_timeout, options_.observer);
  }
  return node;
}

Status RedisClient::RefreshSlots() {
  std::vector<Endpoint> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slots_ != nullptr) {
      for (const auto& m : slots_->masters) candidates.push_back(m->endpoint());
    }
  }
  candidates.insert(candidates.end(), options_.seeds.begin(), options_.seeds.end());
  Status last = UnavailableError("redis cluster: no node to ask for the slot map");
  for (const Endpoint& from : candidates) {
    Result<Reply> r = NodeAt(from)->Call({"CLUSTER", "SLOTS"}, false, options_.connect_timeout);
    if (!r.ok()) {
      last = r.status();
      continue;
    }
    if (r->is_error() || r->type != Reply::Type::kArray) {
      last = UnavailableError("redis cluster: CLUSTER SLOTS on " + from.ToString() + ": " + r->ToString());
      continue;
    }
    // Each range: [start, end, [host, port, id, ...], replicas...].
    auto map = std::make_shared<SlotMap>();
    std::map<std::string, uint16_t> index;
    bool well_formed = true;
    for (const Reply& range : r->elements) {
      if (range.elements.size() < 3 || range.elements[2].elements.size() < 2 ||
          range.elements[0].integer < 0 || range.elements[1].integer >= kClusterSlots ||
          range.elements[0].integer > range.elements[1].integer) {
        well_formed = false;
        break;
      }
      Endpoint master;
      master.host = range.elements[2].elements[0].str;
      if (master.host.empty() || master.host == "?") master.host = from.host;
      master.port = static_cast<uint16_t>(range.elements[2].elements[1].integer);
      auto [it, added] = index.emplace(master.ToString(), static_cast<uint16_t>(map->masters.size() + 1));
      if (added) map->masters.push_back(NodeAt(master));
      for (int64_t s = range.elements[0].integer; s <= range.elements[1].integer; ++s) {
        map->owner[static_cast<size_t>(s)] = it->second;
      }
    }
    if (!well_formed || map->masters.empty()) {
      last = UnavailableError("redis cluster: CLUSTER SLOTS on " + from.ToString() + " gave " + r->ToString());
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    slots_ = std::move(map);
    slots_stale_ = false;
    return Status::Ok();
  }
  return last;
}

Result<std::shared_ptr<RedisClient::Node>> RedisClient::NodeFor(std::optional<uint16_t> slot) {
  if (!options_.cluster) return standalone_;
  std::shared_ptr<const SlotMap> map;
  bool stale = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    map = slots_;
    stale = slots_stale_;
  }
  if (map == nullptr || stale) {
    // One caller refreshes a stale map while the others go on with it; with
    // no map at all, everyone waits for the first.
    std::unique_lock<std::mutex> refreshing(refresh_mu_, std::defer_lock);
    if (map == nullptr) {
      refreshing.lock();
    } else {
      refreshing.try_lock();
    }
    if (refreshing.owns_lock()) {
      std::lock_guard<std::mutex> lock(mu_);
      map = slots_;
      stale = slots_stale_;
    }
    if (refreshing.owns_lock() && (map == nullptr || stale)) {
      Status refreshed = RefreshSlots();
      if (!refreshed.ok() && map == nullptr) return refreshed;
      std::lock_guard<std::mutex> lock(mu_);
      map = slots_;
    }
  }
  if (!slot) return map->masters.front();
  const uint16_t owner = map->owner[*slot];
  if (owner == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_stale_ = true;
    return UnavailableError("redis cluster: no master serves slot " + std::to_string(*slot));
  }
  return map->masters[owner - 1];
}

Result<Reply> RedisClient::Routed(std::optional<uint16_t> slot, const std::vector<std::string>& args,
                                  std::optional<milliseconds> timeout, bool wait_out_tryagain) {
  const milliseconds per_call = timeout.value_or(options_.command_timeout);
  const SteadyClock::time_point deadline = SteadyClock::now() + options_.redirect_timeout;
  milliseconds backoff{1};
  auto wait = [&] {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, milliseconds(100));
  };
  bool asking = false;
  Result<std::shared_ptr<Node>> node = NodeFor(slot);
  for (;;) {
    Result<Reply> r = node.ok() ? (*node)->Call(args, asking, per_call) : Result<Reply>(node.status());
    asking = false;
    const bool may_retry = options_.cluster && SteadyClock::now() < deadline;
    if (!r.ok()) {
      // Not sent: the map may be out of date (a failover), so refresh it.
      if (!may_retry || r.status().code() != StatusCode::kUnavailable) return r;
      {
        std::lock_guard<std::mutex> lock(mu_);
        slots_stale_ = true;
      }
      wait();
      node = NodeFor(slot);
      continue;
    }
    if (!options_.cluster || !r->is_error()) return r;
    if (std::optional<Redirect> redirect = ParseRedirect(*r, (*node)->endpoint())) {
      if (!may_retry) return r;
      node = NodeAt(redirect->endpoint);
      if (redirect->ask) {
        asking = true;  // this command only; the slot is still the old node's
      } else {
        // The slot moved for good: route it there now, and re-read the
        // whole map, as other slots probably moved too.
        std::lock_guard<std::mutex> lock(mu_);
        if (slots_ != nullptr) {
          auto map = std::make_shared<SlotMap>(*slots_);
          auto it = std::find(map->masters.begin(), map->masters.end(), *node);
          if (it == map->masters.end()) it = map->masters.insert(map->masters.end(), *node);
          map->owner[redirect->slot] = static_cast<uint16_t>(it - map->masters.begin() + 1);
          slots_ = std::move(map);
        }
        slots_stale_ = true;
      }
      continue;
    }
    if (may_retry && (r->IsErrorWithPrefix("CLUSTERDOWN") || (wait_out_tryagain && r->IsErrorWithPrefix("TRYAGAIN")))) {
      wait();
      node = NodeFor(slot);
      continue;
    }
    return r;
  }
}

Result<Reply> RedisClient::Call(std::vector<std::string> args, std::optional<milliseconds> timeout) {
  return Routed(std::nullopt, args, timeout, true);
}

Result<Reply> RedisClient::CallKey(std::string_view key, std::vector<std::string> args) {
  return Routed(KeySlot(key), args, std::nullopt, true);
}

Result<Reply> RedisClient::CallAt(const Endpoint& node, std::vector<std::string> args) {
  return NodeAt(node)->Call(args, false, options_.command_timeout);
}

Result<std::vector<Endpoint>> RedisClient::Masters() {
  if (!options_.cluster) return std::vector<Endpoint>{options_.seeds.at(0)};
  SLUICE_RETURN_IF_ERROR(NodeFor(std::nullopt).status());
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Endpoint> out;
  for (const auto& m : slots_->masters) out.push_back(m->endpoint());
  return out;
}

namespace {

// The replies of commands sent together; shared with their callbacks, which
// may outlive a caller that gave up waiting.
struct PendingReplies {
  explicit PendingReplies(size_t n) : results(n), remaining(n) {}
  std::mutex mu;
  std::condition_variable done;
  std::vector<std::optional<Result<Reply>>> results;  // guarded by mu; empty until delivered
  size_t remaining;                                   // guarded by mu
};

}  // namespace

std::vector<Result<Reply>> RedisClient::CallMany(const std::vector<std::vector<std::string>>& commands,
                                                 size_t key_index, bool wait_out_tryagain) {
  const size_t n = commands.size();
  std::vector<std::optional<uint16_t>> slots(n);
  if (options_.cluster) {
    for (size_t i = 0; i < n; ++i) slots[i] = KeySlot(commands[i].at(key_index));
  }
  auto pending = std::make_shared<PendingReplies>(n);
  for (size_t i = 0; i < n; ++i) {
    auto deliver = [pending, i](Result<Reply> r) {
      std::lock_guard<std::mutex> lock(pending->mu);
      pending->results[i] = std::move(r);
      if (--pending->remaining == 0) pending->done.notify_one();
    };
    Result<std::shared_ptr<Node>> node = NodeFor(slots[i]);
    Result<std::shared_ptr<Connection>> conn = node.ok() ? (*node)->Get() : node.status();
    if (conn.ok()) {
      (*conn)->Send(commands[i], std::move(deliver));
    } else {
      deliver(conn.status());
    }
  }
  std::vector<Result<Reply>> results;
  results.reserve(n);
  {
    std::unique_lock<std::mutex> lock(pending->mu);
    auto all_done = [&] { return pending->remaining == 0; };
    if (options_.command_timeout.count() == 0) {
      pending->done.wait(lock, all_done);
    } else {
      pending->done.wait_for(lock, options_.command_timeout, all_done);
    }
    // Replies still missing are given up on; their callbacks may still come
    // and write into `pending`, which they share.
    for (std::optional<Result<Reply>>& r : pending->results) {
      if (r) {
        results.push_back(std::move(*r));
      } else {
        results.push_back(DeadlineExceededError("redis: no reply within " +
                                                std::to_string(options_.command_timeout.count()) +
                                                "ms; the command may still run"));
      }
    }
  }
  // What was redirected, or never sent, goes the routed way one by one.
  for (size_t i = 0; i < n; ++i) {
    if (options_.cluster && NeedsRouting(results[i])) {
      results[i] = Routed(slots[i], commands[i], std::nullopt, wait_out_tryagain);
    }
  }
  return results;
}

size_t RedisClient::AddScript(std::string text, std::string function) {
  std::lock_guard<std::mutex> lock(mu_);
  scripts_.push_back(std::move(text));
  shas_.emplace_back();
  functions_.push_back(std::move(function));
  return scripts_.size() - 1;
}

void RedisClient::SetFunctionLibrary(std::string source) {
  std::lock_guard<std::mutex> lock(mu_);
  library_ = std::move(source);
  functions_enabled_ = !library_.empty();
}

bool RedisClient::IsMissingCode(const Reply& reply) {
  if (reply.IsErrorWithPrefix("NOSCRIPT") || reply.IsErrorWithPrefix("ERR Function not found")) return true;
  // FCALL on a server older than Redis 7.
  if (reply.IsErrorWithPrefix("ERR unknown command")) {
    DisableFunctions("the server has no FCALL (" + reply.str + ")");
    return true;
  }
  return false;
}

bool RedisClient::LoadFunctionLibrary() {
  std::string source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    source = library_;
  }
  Result<std::vector<Endpoint>> masters = Masters();
  if (!masters.ok()) return false;
  for (const Endpoint& master : *masters) {
    Result<Reply> r = CallAt(master, {"FUNCTION", "LOAD", "REPLACE", source});
    if (!r.ok()) return false;  // unreachable now; the next miss tries again
    if (r->is_error()) {
      // No Functions (Redis 6), or not allowed (ACL, managed Redis).
      DisableFunctions("FUNCTION LOAD on " + master.ToString() + " failed: " + r->str);
      return false;
    }
  }
  options_.observer.sink().Increment("sluice_redis_function_loads_total");
  options_.observer.log().Log(LogLevel::kInfo, "redis", "loaded the function library on every master");
  return true;
}

void RedisClient::DisableFunctions(const std::string& why) {
  if (!functions_enabled_.exchange(false)) return;  // reported once
  options_.observer.sink().Increment("sluice_redis_function_fallbacks_total");
  options_.observer.log().Log(LogLevel::kWarning, "redis", "decisions fall back from FCALL to EVALSHA: " + why);
}

std::string RedisClient::Sha(size_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return shas_.at(id);
}

std::vector<std::string> RedisClient::CallArgs(size_t id, const std::vector<std::string>& keys,
                                               const std::vector<std::string>& argv) {
  std::vector<std::string> args;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (functions_enabled_.load() && !functions_.at(id).empty()) {
      args.push_back("FCALL");
      args.push_back(functions_[id]);
    } else if (!shas_.at(id).empty()) {
      args.push_back("EVALSHA");
      args.push_back(shas_[id]);
    } else {
      return args;
    }
  }
  args.reserve(3 + keys.size() + argv.size());
  args.push_back(std::to_string(keys.size()));
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  return args;
}

Result<Reply> RedisClient::Eval(size_t id, const std::vector<std::string>& keys,
                                const std::vector<std::string>& argv, std::optional<milliseconds> timeout,
                                bool wait_out_tryagain) {
  std::optional<uint16_t> slot;
  if (options_.cluster && !keys.empty()) slot = KeySlot(keys[0]);
  std::vector<std::string> args = CallArgs(id, keys, argv);
  if (!args.empty() && args[0] == "FCALL") {
    SLUICE_ASSIGN_OR_RETURN(Reply reply, Routed(slot, args, timeout, wait_out_tryagain));
    if (!IsMissingCode(reply)) return reply;
    if (LoadFunctionLibrary()) {
      SLUICE_ASSIGN_OR_RETURN(reply, Routed(slot, args, timeout, wait_out_tryagain));
      if (!IsMissingCode(reply)) return reply;
    }
    // The function did not run: run the script instead.
  }
  std::string sha = Sha(id);
  if (sha.empty()) {
    // Any node computes the same digest; other nodes load the script on
    // their first NOSCRIPT.
    std::string text;
    {
      std::lock_guard<std::mutex> lock(mu_);
      text = scripts_.at(id);
    }
    SLUICE_ASSIGN_OR_RETURN(Reply loaded, Call({"SCRIPT", "LOAD", std::move(text)}, timeout));
    if (loaded.is_error()) return UnavailableError("redis SCRIPT LOAD: " + loaded.str);
    sha = loaded.str;
    std::lock_guard<std::mutex> lock(mu_);
    shas_[id] = sha;
  }
  args = {"EVALSHA", sha, std::to_string(keys.size())};
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  SLUICE_ASSIGN_OR_RETURN(Reply reply, Routed(slot, args, timeout, wait_out_tryagain));
  if (!reply.IsErrorWithPrefix("NOSCRIPT")) return reply;
  // The script text (kilobytes) is copied only here and to load it.
  args[0] = "EVAL";
  {
    std::lock_guard<std::mutex> lock(mu_);
    args[1] = scripts_.at(id);
  }
  return Routed(slot, args, timeout, wait_out_tryagain);
}

std::vector<Result<Reply>> RedisClient::EvalMany(const std::vector<EvalCall>& calls, bool wait_out_tryagain) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(calls.size());
  // A script not loaded yet (no arguments) goes through Eval, which loads it.
  for (const EvalCall& call : calls) commands.push_back(CallArgs(call.script, call.keys, call.argv));
  std::vector<size_t> index;  // of the calls sent together
  std::vector<std::vector<std::string>> batch;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!commands[i].empty() && !calls[i].keys.empty()) {
      index.push_back(i);
      batch.push_back(std::move(commands[i]));
    }
  }
  std::vector<Result<Reply>> sent = CallMany(batch, 3, wait_out_tryagain);
  std::vector<Result<Reply>> results(calls.size(), Result<Reply>(InternalError("not run")));
  std::vector<bool> done(calls.size(), false);
  for (size_t j = 0; j < index.size(); ++j) {
    if (sent[j].ok() && IsMissingCode(*sent[j])) continue;
    results[index[j]] = std::move(sent[j]);
    done[index[j]] = true;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!done[i]) results[i] = Eval(calls[i].script, calls[i].keys, calls[i].argv, std::nullopt, wait_out_tryagain);
  }
  return results;
}

std::string RandomTokens::Next(int words) {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < words; ++i) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng_()));
    out += buf;
  }
  return out;
}

int64_t RandomTokens::Uniform(int64_t n) {
  if (n <= 0) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_int_distribution<int64_t>(0, n)(rng_);
}

}  // namespace sluice::redis
