// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/redis_client.h"

#include <condition_variable>
#include <cstdio>

namespace sluice::redis {

Result<std::shared_ptr<Connection>> RedisClient::GetConnection() {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr || !conn_->connected()) {
    SLUICE_ASSIGN_OR_RETURN(conn_, Connection::Connect(io_, endpoint_, connect_timeout_));
  }
  return conn_;
}

Result<Reply> RedisClient::Call(std::vector<std::string> args,
                                std::optional<std::chrono::milliseconds> timeout) {
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, GetConnection());
  if (timeout) {
    Result<Reply> r = conn->Call(std::move(args), *timeout);
    // A connection that timed out may deliver the late reply to nobody but
    // would stay behind in the pipeline: start afresh next time.
    if (r.status().code() == StatusCode::kDeadlineExceeded) conn->Close();
    return r;
  }
  return conn->Call(std::move(args));
}

std::vector<Result<Reply>> RedisClient::CallMany(const std::vector<std::vector<std::string>>& commands) {
  std::vector<Result<Reply>> results(commands.size(), Result<Reply>(InternalError("no reply")));
  Result<std::shared_ptr<Connection>> conn = GetConnection();
  if (!conn.ok()) {
    for (auto& r : results) r = conn.status();
    return results;
  }
  std::mutex mu;
  std::condition_variable done;
  size_t remaining = commands.size();
  for (size_t i = 0; i < commands.size(); ++i) {
    (*conn)->Send(commands[i], [&, i](Result<Reply> r) {
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(r);
      if (--remaining == 0) done.notify_one();
    });
  }
  // Every callback runs exactly once (with a reply or the connection's
  // failure), so this wait ends.
  std::unique_lock<std::mutex> lock(mu);
  done.wait(lock, [&] { return remaining == 0; });
  return results;
}

size_t RedisClient::AddScript(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  scripts_.push_back(std::move(text));
  shas_.emplace_back();
  return scripts_.size() - 1;
}

Result<Reply> RedisClient::Eval(size_t id, const std::vector<std::string>& keys,
                                const std::vector<std::string>& argv, std::optional<std::chrono::milliseconds> timeout) {
  // The script text (kilobytes) is copied only to load it or after NOSCRIPT,
  // never on the common path.
  auto text = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return scripts_.at(id);
  };
  std::string sha;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sha = shas_.at(id);
  }
  if (sha.empty()) {
    SLUICE_ASSIGN_OR_RETURN(Reply loaded, Call({"SCRIPT", "LOAD", text()}, timeout));
    if (loaded.is_error()) return UnavailableError("redis SCRIPT LOAD: " + loaded.str);
    sha = loaded.str;
    std::lock_guard<std::mutex> lock(mu_);
    shas_[id] = sha;
  }
  std::vector<std::string> args;
  args.reserve(3 + keys.size() + argv.size());
  args.push_back("EVALSHA");
  args.push_back(sha);
  args.push_back(std::to_string(keys.size()));
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  SLUICE_ASSIGN_OR_RETURN(Reply reply, Call(args, timeout));
  if (!reply.IsErrorWithPrefix("NOSCRIPT")) return reply;
  args[0] = "EVAL";
  args[1] = text();
  return Call(std::move(args), timeout);
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

}  // namespace sluice::redis
