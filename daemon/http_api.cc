// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/http_api.h"

#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "daemon/daemon.h"
#include "daemon/decide_call.h"
#include "daemon/rls_proto.h"
#include "daemon/service.h"
#include "sluice/duration.h"
#include "sluice/rate_limiter.h"
#include "sluice/status.h"
#include "util/json.h"

namespace sluice::daemon {
namespace {

using internal::Json;

int64_t CeilMillis(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return 0;
  return (d.count() + 999'999) / 1'000'000;
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  r.body.push_back('\n');
  return r;
}

HttpResponse ErrorResponse(int status, std::string_view message) {
  std::string body = "{\"error\":";
  internal::AppendJsonString(message, &body);
  body += "}";
  return JsonResponse(status, std::move(body));
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// A WritableFile that hands what is appended to a reader on another thread,
// at most `capacity` chunks ahead of it: a streamed export holds a bounded
// amount of memory however large the store is.
class ChunkPipe : public WritableFile {
 public:
  explicit ChunkPipe(size_t capacity) : capacity_(capacity) {}

  Status Append(std::string_view data) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || chunks_.size() < capacity_; });
    if (cancelled_) return UnavailableError("the client went away");
    chunks_.emplace_back(data);
    size_ += data.size();
    cv_.notify_all();
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Sync() override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  uint64_t Size() const override { return size_; }

  void Finish(Status status) {
    std::lock_guard lock(mu_);
    done_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // Next chunk into *out; true while more may follow.
  Result<bool> Read(std::string* out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_ || !chunks_.empty(); });
    if (!chunks_.empty()) {
      out->append(chunks_.front());
      chunks_.pop_front();
      cv_.notify_all();
      return true;
    }
    if (!status_.ok()) return status_;
    return false;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  uint64_t size_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  Status status_;
};

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Compare every byte of the longer string so the time does not reveal
  // where the first difference is.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

void HttpApi::Handle(HttpRequest request, HttpRespond respond) {
  const std::string_view path = request.Path();
  if (path == "/v1/decide") {
    if (request.method != "POST") return respond(ErrorResponse(405, "use POST"));
    return Decide(std::move(request), std::move(respond));
  }
  if (path == "/json") {
    if (request.method != "POST") return respond(ErrorResponse(405, "use POST"));
    return EnvoyJson(std::move(request), std::move(respond));
  }
  if (path == "/healthz" || path == "/healthcheck") {
    return respond(JsonResponse(200, "{\"status\":\"ok\"}"));
  }
  if (path == "/readyz") {
    Status ready = daemon_.Ready();
    if (ready.ok()) return respond(JsonResponse(200, "{\"ready\":true}"));
    std::string body = "{\"ready\":false,\"reason\":";
    internal::AppendJsonString(ready.ToString(), &body);
    return respond(JsonResponse(503, body + "}"));
  }
  if (path == "/metrics") {
    HttpResponse r;
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = daemon_.metrics().RenderPrometheus();
    return respond(std::move(r));
  }
  if (path == "/v1/rules") {
    std::shared_ptr<const RuleSet> rules = daemon_.service().rules();
    Json::Array list;
    Json::Array sources;
    if (rules) {
      for (const Rule& rule : rules->rules()) {
        Json item = Json::MakeObject();
        item.Set("domain", Json::String(rule.domain));
        item.Set("path", Json::String(rule.path));
        item.Set("source_file", Json::String(rule.source_file));
        item.Set("line", Json::Int(rule.source_line));
        if (!rule.name.empty()) item.Set("name", Json::String(rule.name));
        if (rule.unlimited) {
          item.Set("unlimited", Json::Bool(true));
        } else if (rule.has_limit) {
          item.Set("policy", Json::String(rule.policy.ToString()));
          item.Set("requests_per_unit", Json::Int(rule.reported.requests_per_unit));
          item.Set("unit", Json::String(std::string(RlsUnitName(rule.reported.unit))));
        } else {
          item.Set("whitelisted", Json::Bool(true));
        }
        if (rule.shadow_mode) item.Set("shadow_mode", Json::Bool(true));
        if (rule.quota_mode) item.Set("quota_mode", Json::Bool(true));
        list.push_back(std::move(item));
      }
      for (const RuleSet::Source& s : rules->sources()) {
        Json item = Json::MakeObject();
        item.Set("file", Json::String(s.file));
        item.Set("domain", Json::String(s.domain));
        item.Set("loaded_at_unix", Json::Int(std::chrono::duration_cast<std::chrono::seconds>(
                                                 s.loaded_at.time_since_epoch())
                                                 .count()));
        sources.push_back(std::move(item));
      }
    }
    Json root = Json::MakeObject();
    root.Set("rules", Json::MakeArray(std::move(list)));
    root.Set("sources", Json::MakeArray(std::move(sources)));
    root.Set("shadow_mode", Json::Bool(daemon_.config().shadow_mode));
    return respond(JsonResponse(200, internal::WriteJson(root)));
  }
  if (path.starts_with("/admin/")) return Admin(std::move(request), std::move(respond));
  return respond(ErrorResponse(404, "no such endpoint"));
}

void HttpApi::Decide(HttpRequest request, HttpRespond respond) {
  Result<DecideCall> call = ParseDecideCall(request.body);
  if (!call.ok()) return respond(ErrorResponse(400, call.status().message()));
  const HeaderMode mode = daemon_.config().header_mode;
  const bool epoch = daemon_.config().x_ratelimit_reset_epoch;
  daemon_.service().Decide(std::move(*call), [respond = std::move(respond), mode, epoch](Result<DecideReply> reply) {
    if (!reply.ok()) return respond(ErrorResponse(HttpStatusFor(reply.status()), reply.status().ToString()));
    const Decision& d = reply->decision;
    const int status = d.allowed ? 200 : 429;
    // Written by hand: this runs for every decision, and fmt's parsing of a
    // format string costs more than the appends.
    std::string body;
    body.reserve(160 + reply->rule.size());
    auto boolean = [&body](bool b) { body.append(b ? "true" : "false"); };
    body.append("{\"allowed\":");
    boolean(d.allowed);
    body.append(",\"limit\":");
    internal::AppendJsonInt(d.limit, &body);
    body.append(",\"remaining\":");
    internal::AppendJsonInt(d.remaining, &body);
    body.append(",\"reset_after_ms\":");
    internal::AppendJsonInt(CeilMillis(d.reset_after), &body);
    body.append(",\"retry_after_ms\":");
    internal::AppendJsonInt(CeilMillis(d.retry_after), &body);
    body.append(",\"shadow_denied\":");
    boolean(d.shadow_denied);
    body.append(",\"degraded\":");
    boolean(d.degraded);
    if (!reply->matched) body.append(",\"matched\":false");
    if (!reply->rule.empty()) {
      body.append(",\"rule\":");
      internal::AppendJsonString(reply->rule, &body);
    }
    body += "}";
    HttpResponse r = JsonResponse(status, std::move(body));
    if (reply->matched && !d.degraded && d.limit > 0) {
      const int64_t now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
      HeaderLimit limit{reply->policy_name, d.limit,
                        reply->policy.algorithm == Algorithm::kFixedWindow &&
                                reply->policy.alignment != WindowAlignment::kEpoch
                            ? CeilSeconds(d.reset_after)
                            : CeilSeconds(reply->policy.interval),
                        d.remaining, CeilSeconds(d.allowed ? d.reset_after : d.retry_after)};
      const int64_t retry = d.allowed ? 0 : std::max<int64_t>(1, CeilSeconds(d.retry_after));
      for (RlsHeader& h : RateLimitHeaders(mode, epoch, std::span<const HeaderLimit>(&limit, 1), retry, now_unix)) {
        r.headers.emplace_back(std::move(h.key), std::move(h.value));
      }
    }
    respond(std::move(r));
  });
}

void HttpApi::EnvoyJson(HttpRequest request, HttpRespond respond) {
  Result<RlsRequest> parsed = ParseRlsRequestJson(request.body);
  if (!parsed.ok()) return respond(ErrorResponse(400, parsed.status().message()));
  daemon_.service().ShouldRateLimit(
      std::move(*parsed),
      [respond = std::move(respond)](Result<RlsResponse> response) {
        if (!response.ok()) {
          return respond(ErrorResponse(HttpStatusFor(response.status()), response.status().ToString()));
        }
        HttpResponse r;
        r.status = response->overall_code == RlsCode::kOverLimit ? 429 : 200;
        r.headers.emplace_back("Content-Type", "application/json");
        for (const RlsHeader& h : response->response_headers_to_add) r.headers.emplace_back(h.key, h.value);
        r.body = RlsResponseToJson(*response);
        respond(std::move(r));
      },
      "json");
}

void HttpApi::Admin(HttpRequest request, HttpRespond respond) {
  const std::string& token = daemon_.admin_token();
  if (token.empty()) return respond(ErrorResponse(404, "the admin API is disabled: no admin token is configured"));
  std::optional<std::string_view> auth = request.Header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth || !auth->starts_with(kBearer) || !ConstantTimeEquals(auth->substr(kBearer.size()), token)) {
    HttpResponse r = ErrorResponse(401, "a valid admin bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  const std::string_view path = request.Path();
  if (path == "/admin/checkpoint" && request.method == "POST") {
    Result<CheckpointInfo> info = daemon_.CreateCheckpoint();
    if (!info.ok()) return respond(ErrorResponse(HttpStatusFor(info.status()), info.status().ToString()));
    std::string body = fmt::format("{{\"id\":{},\"entries\":{},\"bytes\":{},\"name\":", info->id, info->entries,
                                   info->size_bytes);
    internal::AppendJsonString(info->name, &body);
    return respond(JsonResponse(200, body + "}"));
  }
  if (path == "/admin/reload" && request.method == "POST") {
    Status s = daemon_.ReloadRules("admin request");
    if (!s.ok()) return respond(ErrorResponse(HttpStatusFor(s), s.ToString()));
    const size_t n = daemon_.service().rules() ? daemon_.service().rules()->rules().size() : 0;
    return respond(JsonResponse(200, fmt::format("{{\"reloaded\":true,\"rules\":{}}}", n)));
  }
  if (path == "/admin/export" && request.method == "GET") {
    // The export runs on its own thread into a bounded pipe; the response
    // streams from the pipe, so memory stays bounded for any store size.
    auto pipe = std::make_shared<ChunkPipe>(8);
    Daemon* daemon = &daemon_;
    daemon_.RunInBackground([pipe, daemon] {
      Result<ExportReport> report = daemon->Export(*pipe, ExportOptions{});
      pipe->Finish(report.ok() ? Status::Ok() : report.status());
    });
    HttpResponse r;
    r.headers.emplace_back("Content-Type", "application/x-ndjson");
    // If the client leaves, the pipe's last owner is the export thread; make
    // sure it does not wait for a reader forever.
    auto guard = std::shared_ptr<void>(nullptr, [pipe](void*) { pipe->Cancel(); });
    r.stream = [pipe, guard](std::string* out) -> Result<bool> { return pipe->Read(out); };
    return respond(std::move(r));
  }
  if (path == "/admin/import" && request.method == "POST") {
    ImportOptions options;
    options.all_or_nothing = true;
    options.dry_run = request.Path() != request.target && request.target.find("dry_run=true") != std::string::npos;
    Result<ImportReport> report = daemon_.Import(request.body, options);
    if (!report.ok()) {
      // A truncated or corrupt stream is the client's bad input: 400, and
      // nothing was applied.
      const int status = report.status().code() == StatusCode::kDataLoss ? 400 : HttpStatusFor(report.status());
      return respond(ErrorResponse(status, report.status().ToString()));
    }
    Json root = Json::MakeObject();
    root.Set("applied", Json::Bool(report->applied));
    root.Set("restored", Json::Int(static_cast<int64_t>(report->restored)));
    root.Set("expired", Json::Int(static_cast<int64_t>(report->expired)));
    root.Set("invalid", Json::Int(static_cast<int64_t>(report->invalid)));
    root.Set("skipped", Json::Int(static_cast<int64_t>(report->skipped)));
    Json::Array invalid;
    for (const InvalidRecord& rec : report->invalid_records) {
      Json item = Json::MakeObject();
      item.Set("index", Json::Int(static_cast<int64_t>(rec.index)));
      item.Set("key", Json::String(rec.key));
      item.Set("reason", Json::String(rec.reason.ToString()));
      invalid.push_back(std::move(item));
    }
    root.Set("invalid_records", Json::MakeArray(std::move(invalid)));
    return respond(JsonResponse(report->invalid > 0 ? 400 : 200, internal::WriteJson(root)));
  }
  return respond(ErrorResponse(404, "no such admin endpoint (POST checkpoint, GET export, POST import, POST reload)"));
}

}  // namespace sluice::daemon
