// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Rate limit rules: envoyproxy/ratelimit rule files, read unchanged, plus
// sluice's extensions, compiled into an immutable RuleSet that matches request
// descriptors to limits.
//
// File format (YAML; every *.yaml / *.yml file of the rules directory):
//   domain: <string, required, unique across files unless merging>
//   descriptors:
//     - key: <string, required>
//       value: <string, optional; "prefix*" or "*" anywhere: wildcard>
//       rate_limit:               # optional; absent and no children: whitelisted
//         unit: second|minute|hour|day|week|month|year   (case-insensitive)
//         requests_per_unit: <uint32>
//         unlimited: <bool>       # never combined with unit
//         name: <string>          # what `replaces` refers to
//         replaces: [{name: <string>}]
//         # sluice extensions:
//         algorithm: fixed_window|token_bucket|gcra|sliding_window|sliding_window_log
//         period: "90s"           # instead of unit: any duration
//         burst: <int64>          # token bucket capacity / GCRA burst
//         alignment: epoch|day|week|month|year   # fixed windows: calendar windows (UTC)
//       shadow_mode: <bool>
//       detailed_metric: <bool>
//       quota_mode: <bool>
//       share_threshold: <bool>   # needs a wildcard value: all matches share one counter
//       value_to_metric: <bool>
//       metadata: <map>           # copied into the response's dynamic metadata
//       descriptors: [...]        # nested, same shape
//
// Matching is upstream's: a request descriptor with N entries matches only
// rules N levels deep; at each level key+value is tried before a wildcard
// value and before key alone.
//
// Thread-safety: a RuleSet is immutable after loading; share it freely
// (readers hold a std::shared_ptr<const RuleSet> across a reload).

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/rls.h"
#include "sluice/algorithms.h"
#include "sluice/result.h"

namespace sluice::daemon {

// One limit from a rule file, compiled.
struct Rule {
  std::string domain;
  // The path of key[_value] parts joined by '.', as upstream names stats:
  // "remote_address" or "header_match_foo.path_bar".
  std::string path;
  std::string source_file;  // the file it came from
  int source_line = 0;      // 1-based line of the descriptor in that file

  // rate_limit.name; empty if none.
  std::string name;
  std::vector<std::string> replaces;

  bool unlimited = false;
  // Without rate_limit and unlimited: whitelisted (matches, never limits).
  bool has_limit = false;
  // The policy the store decides with (fixed windows aligned to the unit by
  // default). Valid when has_limit and not unlimited, with one exception:
  // requests_per_unit 0 (upstream's way to ban a value) leaves policy.limit
  // at 0, which Policy::Validate rejects; such a rule is over the limit for
  // every request and is decided without the store.
  Policy policy;
  // What the response reports as current_limit.
  RlsRateLimit reported;

  bool shadow_mode = false;
  bool detailed_metric = false;
  bool quota_mode = false;
  bool share_threshold = false;
  bool value_to_metric = false;
  std::optional<RlsMetadataValue> metadata;
};

// A match: the rule and the keys the service uses for it.
struct RuleMatch {
  const Rule* rule = nullptr;
  // The counter's identity: "domain_key_value_key2_value2" with each
  // wildcard-matched value replaced by the pattern when share_threshold is
  // set; a '_' or '\' inside the domain, a key or a value is escaped with a
  // backslash, so different descriptors never share a key. Decisions on
  // equal counter keys share one state.
  std::string counter_key;
  // The metric label (without the domain): the rule path, or with
  // detailed_metric / value_to_metric the path with the request's values
  // filled in.
  std::string metric_key;
};

// Every counter key of `domain`'s rules starts with this (the escaped domain
// and the separator), and no counter key of another domain does.
std::string CounterKeyPrefix(std::string_view domain);

struct RuleLoadOptions {
  // Allow one domain to be split over several files (upstream's
  // MERGE_DOMAIN_CONFIG). Default: off; a repeated domain is an error.
  bool merge_domains = false;
};

// A file's name (for errors and listings) and contents.
struct RuleFile {
  std::string name;
  std::string contents;
};

class RuleSet {
 public:
  // Loads every *.yaml and *.yml file in `directory` (not recursive; sorted by
  // name; names starting with '.', such as editor lock files, are skipped;
  // symlinks are followed). kInvalidArgument naming file, line and reason for any invalid
  // file; kNotFound if the directory does not exist. An empty directory gives
  // an empty rule set.
  static Result<std::shared_ptr<const RuleSet>> LoadDirectory(const std::string& directory,
                                                               const RuleLoadOptions& options = {});
  // Loads the given files. Same errors.
  static Result<std::shared_ptr<const RuleSet>> LoadFiles(std::span<const RuleFile> files,
                                                           const RuleLoadOptions& options = {});

  // The rule for one request descriptor, or nullopt when no rule matches
  // (including an unknown domain).
  std::optional<RuleMatch> Match(std::string_view domain, std::span<const RlsEntry> entries) const;

  bool HasDomain(std::string_view domain) const;
  // Every rule (also whitelist rules), in file order.
  std::span<const Rule> rules() const;
  // Source files with their load time.
  struct Source {
    std::string file;
    std::string domain;
    std::chrono::system_clock::time_point loaded_at;
  };
  std::span<const Source> sources() const;
  // A fingerprint of everything loaded: equal sets have equal fingerprints.
  uint64_t fingerprint() const;

  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

 private:
  struct Impl;
  explicit RuleSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::daemon
