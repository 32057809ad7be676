// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/redis_client.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <optional>
#include <random>
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

  // False if no reply came by `deadline` (none: wait for ever).
  bool Wait(std::optional<SteadyClock::time_point> deadline) {
    const auto spin_until = SteadyClock::now() + std::chrono::microseconds(kSpinMicros);
    while (!ready.load(std::memory_order_acquire) && SteadyClock::now() < spin_until) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu);
    auto is_ready = [&] { return ready.load(std::memory_order_relaxed); };
    if (!deadline) {
      cv.wait(lock, is_ready);
      return true;
    }
    return cv.wait_until(lock, *deadline, is_ready);
  }

  static constexpr int kSpinMicros = 150;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> ready{false};
  std::optional<Result<Reply>> reply;  // guarded by mu; set once
};

// The size of a command in RESP: what it costs in a connection's buffers.
size_t RespBytes(const std::vector<std::string>& args) {
  auto digits = [](size_t n) {
    size_t d = 1;
    while (n >= 10) n /= 10, ++d;
    return d;
  };
  size_t bytes = 3 + digits(args.size());  // "*<n>\r\n"
  for (const std::string& a : args) bytes += 5 + digits(a.size()) + a.size();  // "$<len>\r\n<a>\r\n"
  return bytes;
}

// The deadline `timeout` from now; none for 0 (no limit).
std::optional<SteadyClock::time_point> DeadlineAfter(milliseconds timeout) {
  if (timeout.count() <= 0) return std::nullopt;
  return SteadyClock::now() + timeout;
}

// The commands a server has been handed and not yet answered or failed:
// queued on a connection, being written, or waiting for their replies.
// Shared with the reply callbacks, which may outlive the node.
struct QueueBudget {
  QueueBudget(size_t commands_bound, size_t bytes_bound) : max_commands(commands_bound), max_bytes(bytes_bound) {}
  const size_t max_commands;  // 0: no bound
  const size_t max_bytes;     // 0: no bound
  std::mutex mu;
  size_t commands = 0;       // guarded by mu
  size_t bytes = 0;          // guarded by mu
  size_t most_commands = 0;  // guarded by mu: high-water marks
  size_t most_bytes = 0;     // guarded by mu
  uint64_t rejected = 0;     // guarded by mu
  bool overflowing = false;  // guarded by mu: rejecting since the queue was last empty
};

// A pool of pipelined connections to one server, used round robin.
//
// Connections are opened asynchronously (ConnectAsync: the connect and a
// handshake together bounded by the connect timeout), one at a time per
// server. A caller finding no open connection waits for the attempt in
// progress until its own deadline, so a call never waits out a slow connect
// beyond its command timeout. After a failed attempt the next one waits a
// backoff (doubling, jittered) and calls meanwhile fail at once with
// kUnavailable: a server that is down or hung sees a bounded number of
// connection attempts, not one per call.
class RedisClient::Node : public std::enable_shared_from_this<RedisClient::Node> {
 public:
  Node(IoThread& io, Endpoint endpoint, const ClientOptions& options)
      : endpoint_(std::move(endpoint)),
        io_(io),
        options_(options),
        budget_(std::make_shared<QueueBudget>(options.max_pending_commands, options.max_pending_bytes)),
        rng_(std::random_device{}()),
        connections_(static_cast<size_t>(std::max(options.connections_per_node, 1))) {}

  const Endpoint& endpoint() const { return endpoint_; }

  // An open connection, waiting for one being opened at most until
  // `deadline` (none: until the attempt ends). kUnavailable when there is
  // none: the command was not sent.
  Result<std::shared_ptr<Connection>> Get(std::optional<SteadyClock::time_point> deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      const size_t n = connections_.size();
      const size_t first = next_++ % n;
      std::shared_ptr<Connection> open;
      std::optional<size_t> closed;
      for (size_t k = 0; k < n; ++k) {
        const size_t i = (first + k) % n;
        const std::shared_ptr<Connection>& c = connections_[i];
        if (c != nullptr && c->connected()) {
          if (open == nullptr) open = c;
        } else if (!closed && !(connecting_ && connecting_slot_ == i)) {
          closed = i;
        }
      }
      // Reopen a closed connection in the background even when another is
      // open, so the pool recovers its size.
      if (closed && !connecting_ && SteadyClock::now() >= next_attempt_) StartConnectLocked(*closed);
      if (open != nullptr) return open;
      if (!connecting_) {
        const auto wait = std::chrono::duration_cast<milliseconds>(next_attempt_ - SteadyClock::now());
        return UnavailableError("redis " + endpoint_.ToString() + ": not connected (" + last_error_ +
                                "); next attempt in " + std::to_string(std::max<int64_t>(wait.count(), 0)) +
                                "ms; the command was not sent");
      }
      const uint64_t generation = generation_;
      auto attempt_ended = [&] { return generation_ != generation; };
      if (!deadline) {
        cv_.wait(lock, attempt_ended);
      } else if (!cv_.wait_until(lock, *deadline, attempt_ended)) {
        return UnavailableError("redis " + endpoint_.ToString() +
                                ": still connecting when the call's deadline came; the command was not sent");
      }
      if (!last_attempt_ok_) {
        return UnavailableError("redis " + endpoint_.ToString() + ": " + last_error_ + "; the command was not sent");
      }
    }
  }

  // Sends `args` on `conn` (preceded by ASKING when `asking`) if the queue
  // bounds allow, else fails `done` at once with kUnavailable.
  void Send(const std::shared_ptr<Connection>& conn, const std::vector<std::string>& args, bool asking,
            ReplyCallback done) {
    const size_t bytes = RespBytes(args);
    if (Status admitted = Admit(bytes); !admitted.ok()) return done(std::move(admitted));
    auto release = [budget = budget_, bytes, done = std::move(done)](Result<Reply> r) {
      {
        std::lock_guard<std::mutex> lock(budget->mu);
        --budget->commands;
        budget->bytes -= bytes;
        if (budget->commands == 0) budget->overflowing = false;
      }
      done(std::move(r));
    };
    if (asking) {
      conn->SendAsking(args, std::move(release));
    } else {
      conn->Send(args, std::move(release));
    }
  }

  // Sends and waits until `deadline` in all (none: no limit), connecting
  // included. A connection that timed out is closed: its server may be hung,
  // and the next call reconnects.
  Result<Reply> Call(const std::vector<std::string>& args, bool asking,
                     std::optional<SteadyClock::time_point> deadline) {
    SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Get(deadline));
    auto slot = std::make_shared<ReplySlot>();
    Send(conn, args, asking, [slot](Result<Reply> r) { slot->Set(std::move(r)); });
    if (!slot->Wait(deadline)) {
      conn->Close();
      return DeadlineExceededError("redis " + endpoint_.ToString() +
                                   ": no reply within the call's timeout; the command may still run");
    }
    return std::move(*slot->reply);
  }

  Result<Reply> Call(const std::vector<std::string>& args, bool asking, milliseconds timeout) {
    return Call(args, asking, DeadlineAfter(timeout));
  }

  RedisClient::QueueStats queue_stats() const {
    std::lock_guard<std::mutex> lock(budget_->mu);
    return {budget_->commands, budget_->bytes, budget_->most_commands, budget_->most_bytes, budget_->rejected};
  }

 private:
  // kUnavailable when one more command of `bytes` would pass a bound. A
  // command larger than max_pending_bytes is let through alone, when nothing
  // else is pending, or it could never be sent.
  Status Admit(size_t bytes) {
    std::string why;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(budget_->mu);
      QueueBudget& b = *budget_;
      if (b.max_commands > 0 && b.commands + 1 > b.max_commands) {
        why = std::to_string(b.commands) + " commands are pending (max_pending_commands " +
              std::to_string(b.max_commands) + ")";
      } else if (b.max_bytes > 0 && b.commands > 0 && b.bytes + bytes > b.max_bytes) {
        why = std::to_string(b.bytes) + " bytes are pending and this command has " + std::to_string(bytes) +
              " (max_pending_bytes " + std::to_string(b.max_bytes) + ")";
      } else {
        ++b.commands;
        b.bytes += bytes;
        b.most_commands = std::max(b.most_commands, b.commands);
        b.most_bytes = std::max(b.most_bytes, b.bytes);
        return Status::Ok();
      }
      ++b.rejected;
      first = !b.overflowing;
      b.overflowing = true;
    }
    const MetricLabel labels[] = {{"server", endpoint_.ToString()}};
    options_.observer.sink().Increment("sluice_redis_queue_rejections_total", labels);
    // Once per overflow, not once per call: an outage rejects thousands.
    if (first) {
      options_.observer.log().Log(LogLevel::kWarning, "redis",
                                  "queue to " + endpoint_.ToString() + " is full: " + why +
                                      "; calls fail at once (kUnavailable) until it drains");
    }
    return UnavailableError("redis " + endpoint_.ToString() + ": " + why + "; the command was not sent");
  }

  // Opens connection `slot` in the background. Called with mu_ held.
  void StartConnectLocked(size_t slot) {
    connecting_ = true;
    connecting_slot_ = slot;
    const bool reconnect = connections_[slot] != nullptr;
    std::weak_ptr<Node> weak = weak_from_this();
    Connection::ConnectAsync(io_, endpoint_, options_.connect_timeout, options_.handshake,
                             [weak, slot, reconnect](Result<Connected> r) {
                               if (std::shared_ptr<Node> self = weak.lock()) self->OnConnected(slot, reconnect, std::move(r));
                             });
  }

  // The end of a connection attempt, on the I/O thread.
  void OnConnected(size_t slot, bool reconnect, Result<Connected> r) {
    if (r.ok() && options_.on_handshake) options_.on_handshake(endpoint_, r->handshake, r->round_trip);
    {
      std::lock_guard<std::mutex> lock(mu_);
      connecting_ = false;
      ++generation_;
      last_attempt_ok_ = r.ok();
      if (r.ok()) {
        connections_[slot] = std::move(r->connection);
        failures_ = 0;
        next_attempt_ = {};
      } else {
        // The reason without the "redis <endpoint>: " the messages below add.
        std::string_view why = r.status().message();
        const std::string prefix = "redis " + endpoint_.ToString() + ": ";
        if (why.substr(0, prefix.size()) == prefix) why.remove_prefix(prefix.size());
        last_error_ = std::string(why);
        ++failures_;
        next_attempt_ = SteadyClock::now() + BackoffLocked();
      }
    }
    cv_.notify_all();
    // A connection that existed and broke is a degraded path worth seeing in
    // logs and metrics; the first connect is not.
    if (reconnect) {
      const MetricLabel labels[] = {{"outcome", r.ok() ? "ok" : "failed"}};
      options_.observer.sink().Increment("sluice_redis_reconnects_total", labels);
      if (!r.ok() || options_.observer.log().Enabled(LogLevel::kInfo)) {
        options_.observer.log().Log(r.ok() ? LogLevel::kInfo : LogLevel::kWarning, "redis",
                                    "reconnect to " + endpoint_.ToString() +
                                        (r.ok() ? std::string(": ok") : ": " + r.status().ToString()));
      }
    }
  }

  // The wait before the next attempt after `failures_` failed ones in a row:
  // min(max, initial * 2^(failures - 1)), jittered to 50-100% of that.
  std::chrono::nanoseconds BackoffLocked() {
    if (options_.reconnect_backoff_initial.count() <= 0) return {};
    std::chrono::nanoseconds cap = options_.reconnect_backoff_initial;
    for (int i = 1; i < failures_ && cap < options_.reconnect_backoff_max; ++i) cap *= 2;
    cap = std::min<std::chrono::nanoseconds>(cap, std::max(options_.reconnect_backoff_max,
                                                           options_.reconnect_backoff_initial));
    std::uniform_int_distribution<int64_t> jitter(cap.count() / 2, cap.count());
    return std::chrono::nanoseconds(jitter(rng_));
  }

  const Endpoint endpoint_;
  IoThread& io_;
  const ClientOptions& options_;  // the client's, which outlives its nodes
  const std::shared_ptr<QueueBudget> budget_;
  std::mutex mu_;
  std::condition_variable cv_;                            // notified when an attempt ends
  std::mt19937_64 rng_;                                   // guarded by mu_
  std::vector<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  size_t next_ = 0;                                       // guarded by mu_
  bool connecting_ = false;                               // guarded by mu_
  size_t connecting_slot_ = 0;                            // guarded by mu_
  uint64_t generation_ = 0;                               // guarded by mu_: attempts ended
  bool last_attempt_ok_ = false;                          // guarded by mu_
  std::string last_error_ = "no connection yet";          // guarded by mu_
  int failures_ = 0;                                      // guarded by mu_: failed attempts in a row
  SteadyClock::time_point next_attempt_{};                // guarded by mu_
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
    : RedisClient(MakeOptions(std::move(endpoint), connect_timeout)) {}

RedisClient::~RedisClient() = default;

ClientOptions RedisClient::MakeOptions(Endpoint endpoint, milliseconds connect_timeout) {
  ClientOptions options;
  options.seeds.push_back(std::move(endpoint));
  options.connect_timeout = connect_timeout;
  return options;
}

Status RedisClient::Connect() {
  if (options_.seeds.empty()) return InvalidArgumentError("redis: no server given");
  if (options_.cluster) return RefreshSlots();
  return standalone_->Get(std::nullopt).status();
}

std::shared_ptr<RedisClient::Node> RedisClient::NodeAt(const Endpoint& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node>& node = nodes_[endpoint.ToString()];
  if (node == nullptr) {
    node = std::make_shared<Node>(io_, endpoint, options_);
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
  // One deadline for the whole call, redirections and waits included.
  const std::optional<SteadyClock::time_point> call_deadline = DeadlineAfter(timeout.value_or(options_.command_timeout));
  SteadyClock::time_point deadline = SteadyClock::now() + options_.redirect_timeout;
  if (call_deadline) deadline = std::min(deadline, *call_deadline);
  milliseconds backoff{1};
  auto wait = [&] {
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(backoff, std::max<SteadyClock::duration>(
                                                                             deadline - SteadyClock::now(), {})));
    backoff = std::min(backoff * 2, milliseconds(100));
  };
  bool asking = false;
  Result<std::shared_ptr<Node>> node = NodeFor(slot);
  for (;;) {
    Result<Reply> r = node.ok() ? (*node)->Call(args, asking, call_deadline) : Result<Reply>(node.status());
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

Result<Reply> RedisClient::CallAt(const Endpoint& node, std::vector<std::string> args,
                                  std::optional<milliseconds> timeout) {
  return NodeAt(node)->Call(args, false, timeout.value_or(options_.command_timeout));
}

RedisClient::QueueStats RedisClient::queue_stats() {
  QueueStats total;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, node] : nodes_) {
    const QueueStats q = node->queue_stats();
    total.commands += q.commands;
    total.bytes += q.bytes;
    total.most_commands += q.most_commands;
    total.most_bytes += q.most_bytes;
    total.rejected += q.rejected;
  }
  return total;
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
                                                 size_t key_index, bool wait_out_tryagain,
                                                 std::optional<milliseconds> timeout) {
  const milliseconds per_call = timeout.value_or(options_.command_timeout);
  const std::optional<SteadyClock::time_point> deadline = DeadlineAfter(per_call);
  const size_t n = commands.size();
  std::vector<std::optional<uint16_t>> slots(n);
  if (options_.cluster) {
    for (size_t i = 0; i < n; ++i) slots[i] = KeySlot(commands[i].at(key_index));
  }
  auto pending = std::make_shared<PendingReplies>(n);
  std::vector<std::shared_ptr<Connection>> used(n);  // where each command went
  for (size_t i = 0; i < n; ++i) {
    auto deliver = [pending, i](Result<Reply> r) {
      std::lock_guard<std::mutex> lock(pending->mu);
      pending->results[i] = std::move(r);
      if (--pending->remaining == 0) pending->done.notify_one();
    };
    Result<std::shared_ptr<Node>> node = NodeFor(slots[i]);
    Result<std::shared_ptr<Connection>> conn = node.ok() ? (*node)->Get(deadline) : node.status();
    if (conn.ok()) {
      used[i] = *conn;
      (*node)->Send(*conn, commands[i], false, std::move(deliver));
    } else {
      deliver(conn.status());
    }
  }
  std::vector<Result<Reply>> results;
  results.reserve(n);
  {
    std::unique_lock<std::mutex> lock(pending->mu);
    auto all_done = [&] { return pending->remaining == 0; };
    if (!deadline) {
      pending->done.wait(lock, all_done);
    } else {
      pending->done.wait_until(lock, *deadline, all_done);
    }
    // Replies still missing are given up on; their callbacks may still come
    // and write into `pending`, which they share. Their connections are
    // closed, as Node::Call closes one that timed out: the server may be
    // hung, and what was queued on them must not hold the queue bounds.
    for (size_t i = 0; i < n; ++i) {
      std::optional<Result<Reply>>& r = pending->results[i];
      if (r) {
        results.push_back(std::move(*r));
      } else {
        if (used[i] != nullptr) used[i]->Close();
        results.push_back(DeadlineExceededError("redis: no reply within " + std::to_string(per_call.count()) +
                                                "ms; the command may still run"));
      }
    }
  }
  // What was redirected, or never sent, goes the routed way one by one,
  // within what is left of the call's time.
  for (size_t i = 0; i < n; ++i) {
    if (options_.cluster && NeedsRouting(results[i])) {
      std::optional<milliseconds> left;
      if (deadline) {
        left = std::chrono::duration_cast<milliseconds>(*deadline - SteadyClock::now());
        if (left->count() <= 0) continue;
      }
      results[i] = Routed(slots[i], commands[i], left, wait_out_tryagain);
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

bool RedisClient::LoadFunctionLibrary(milliseconds timeout) {
  std::string source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    source = library_;
  }
  Result<std::vector<Endpoint>> masters = Masters();
  if (!masters.ok()) return false;
  for (const Endpoint& master : *masters) {
    Result<Reply> r = NodeAt(master)->Call({"FUNCTION", "LOAD", "REPLACE", source}, false, timeout);
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
  // The steps below (loading the code, falling back to a script) share the
  // call's time: each gets what the earlier ones left.
  const std::optional<SteadyClock::time_point> deadline = DeadlineAfter(timeout.value_or(options_.command_timeout));
  auto left = [&]() -> Result<std::optional<milliseconds>> {
    if (!deadline) return std::optional<milliseconds>(milliseconds(0));
    const auto ms = std::chrono::ceil<milliseconds>(*deadline - SteadyClock::now());
    if (ms.count() <= 0) return UnavailableError("redis: the call's time ran out before the script was sent");
    return std::optional<milliseconds>(ms);
  };
  std::vector<std::string> args = CallArgs(id, keys, argv);
  if (!args.empty() && args[0] == "FCALL") {
    SLUICE_ASSIGN_OR_RETURN(Reply reply, Routed(slot, args, timeout, wait_out_tryagain));
    if (!IsMissingCode(reply)) return reply;
    SLUICE_ASSIGN_OR_RETURN(std::optional<milliseconds> load_time, left());
    if (LoadFunctionLibrary(*load_time)) {
      SLUICE_ASSIGN_OR_RETURN(std::optional<milliseconds> retry_time, left());
      SLUICE_ASSIGN_OR_RETURN(reply, Routed(slot, args, retry_time, wait_out_tryagain));
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
    SLUICE_ASSIGN_OR_RETURN(std::optional<milliseconds> load_time, left());
    SLUICE_ASSIGN_OR_RETURN(Reply loaded, Call({"SCRIPT", "LOAD", std::move(text)}, load_time));
    if (loaded.is_error()) return UnavailableError("redis SCRIPT LOAD: " + loaded.str);
    sha = loaded.str;
    std::lock_guard<std::mutex> lock(mu_);
    shas_[id] = sha;
  }
  args = {"EVALSHA", sha, std::to_string(keys.size())};
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  SLUICE_ASSIGN_OR_RETURN(std::optional<milliseconds> eval_time, left());
  SLUICE_ASSIGN_OR_RETURN(Reply reply, Routed(slot, args, eval_time, wait_out_tryagain));
  if (!reply.IsErrorWithPrefix("NOSCRIPT")) return reply;
  // The script text (kilobytes) is copied only here and to load it.
  args[0] = "EVAL";
  {
    std::lock_guard<std::mutex> lock(mu_);
    args[1] = scripts_.at(id);
  }
  SLUICE_ASSIGN_OR_RETURN(eval_time, left());
  return Routed(slot, args, eval_time, wait_out_tryagain);
}

std::vector<Result<Reply>> RedisClient::EvalMany(const std::vector<EvalCall>& calls, bool wait_out_tryagain,
                                                 std::optional<milliseconds> timeout) {
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
  const std::optional<SteadyClock::time_point> deadline = DeadlineAfter(timeout.value_or(options_.command_timeout));
  std::vector<Result<Reply>> sent = CallMany(batch, 3, wait_out_tryagain, timeout);
  std::vector<Result<Reply>> results(calls.size(), Result<Reply>(InternalError("not run")));
  std::vector<bool> done(calls.size(), false);
  for (size_t j = 0; j < index.size(); ++j) {
    if (sent[j].ok() && IsMissingCode(*sent[j])) continue;
    results[index[j]] = std::move(sent[j]);
    done[index[j]] = true;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (done[i]) continue;
    std::optional<milliseconds> left;
    if (deadline) {
      left = std::chrono::ceil<milliseconds>(*deadline - SteadyClock::now());
      if (left->count() <= 0) {
        results[i] = UnavailableError("redis: the call's time ran out before the script was sent");
        continue;
      }
    }
    results[i] = Eval(calls[i].script, calls[i].keys, calls[i].argv, left, wait_out_tryagain);
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
