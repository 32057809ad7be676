// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A limiter's configuration as JSON, and its keys' state exported and
// imported through the streaming export format.

#include <string>

#include "sluice/rate_limiter.h"
#include "sluice/state_export.h"
#include "util/json.h"

namespace sluice {

std::string LimiterConfigToJson(const LimiterConfig& config, bool pretty) {
  using internal::Json;
  Json rate = Json::MakeObject();
  rate.Set("interval", Json::String(config.rate.interval));
  rate.Set("amount", Json::Int(config.rate.amount));
  Json o = Json::MakeObject();
  o.Set("policy", Json::String(config.policy));
  o.Set("id", Json::String(config.id));
  o.Set("limit", Json::Int(config.limit));
  o.Set("rate", std::move(rate));
  o.Set("alignment", Json::String(config.alignment));
  o.Set("prefix", Json::String(config.prefix));
  o.Set("shadowMode", Json::Bool(config.shadow_mode));
  return internal::WriteJson(o, pretty);
}

std::string LimiterKeyPrefix(const RateLimiter& limiter) {
  // StoreKey ends every key with "{<escaped key>}" and escapes '{' elsewhere,
  // so everything up to the last '{' of any key names this limiter alone.
  std::string key = limiter.StoreKeyFor("");
  key.resize(key.rfind('{') + 1);
  return key;
}

Result<ExportReport> ExportLimiterState(const RateLimiter& limiter, WritableFile& sink, const ExportOptions& options) {
  return ExportStore(limiter.store(), LimiterKeyPrefix(limiter), sink, options);
}

Result<ImportReport> ImportLimiterState(const RateLimiter& limiter, const SourceOpener& open_source,
                                        ImportOptions options) {
  options.key_prefix = LimiterKeyPrefix(limiter);
  options.current_policies = {CurrentPolicy{options.key_prefix, limiter.policy()}};
  return ImportStore(limiter.store(), open_source, options);
}

}  // namespace sluice
