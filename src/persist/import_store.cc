// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// ImportStore: validates and applies an export stream to a store, one record
// at a time, in one pass (best effort, or a dry run) or two (all or nothing:
// check everything, then re-read and apply).

#include "sluice/state_export.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "internal/expiry.h"

namespace sluice {
namespace {

// What to do with one record.
struct Plan {
  enum class Kind : uint8_t { kPut, kDelete, kExpired, kInvalid, kSkipped };
  Kind kind = Kind::kInvalid;
  Record record;  // for kPut (and the key for kDelete)
  Status reason;  // for kInvalid
  bool policy_changed = false;
};

const CurrentPolicy* FindPolicy(const std::vector<CurrentPolicy>& policies, std::string_view key) {
  const CurrentPolicy* best = nullptr;
  for (const CurrentPolicy& p : policies) {
    if (key.substr(0, p.key_prefix.size()) == p.key_prefix &&
        (best == nullptr || p.key_prefix.size() > best->key_prefix.size())) {
      best = &p;
    }
  }
  return best;
}

__extension__ typedef __int128 Int128;

// floor(a * b / c) for non-negative a <= c and b > 0, c > 0, exactly.
int64_t ScaleDown(int64_t a, int64_t b, int64_t c) {
  return static_cast<int64_t>(static_cast<Int128>(a) * b / c);
}

Status PolicyChangeError(const Policy& from, const Policy& to, std::string_view why) {
  return InvalidArgumentError("record.policy: exported under " + from.ToString() + ", current policy is " +
                              to.ToString() + ": " + std::string(why));
}

// Applies the policy change strategy to `record` (a limiter record whose
// policy differs from `current`).
Plan ChangePolicy(Record record, const Policy& current, PolicyChangeStrategy strategy, int64_t now_ns,
                  std::chrono::nanoseconds max_future) {
  Plan plan;
  plan.policy_changed = true;
  auto& limiter = std::get<LimiterRecord>(record.value);
  switch (strategy) {
    case PolicyChangeStrategy::kReset:
      plan.kind = Plan::Kind::kDelete;
      plan.record = std::move(record);
      return plan;
    case PolicyChangeStrategy::kAsIs: {
      Status s = ValidateState(current, limiter.state, now_ns, max_future);
      if (!s.ok()) {
        plan.kind = Plan::Kind::kInvalid;
        plan.reason = PolicyChangeError(limiter.policy, current, "as-is: the state does not fit it: " +
                                                                     std::string(s.message()));
        plan.record = std::move(record);
        return plan;
      }
      limiter.policy = current;
      record.expires_at_ns = ExpiresAt(current, limiter.state);
      break;
    }
    case PolicyChangeStrategy::kProportional: {
      // What the old policy would admit now, as a fraction of its limit.
      std::optional<LimiterState> old_state = limiter.state;
      Result<Evaluation> peek = Evaluate(limiter.policy, old_state, Operation::kPeek, 0, now_ns);
      if (!peek.ok()) {
        plan.kind = Plan::Kind::kInvalid;
        plan.reason = PolicyChangeError(limiter.policy, current, peek.status().message());
        plan.record = std::move(record);
        return plan;
      }
      const int64_t old_limit = std::max<int64_t>(limiter.policy.limit, 1);
      const int64_t remaining = std::clamp<int64_t>(peek->decision.remaining, 0, old_limit);
      const int64_t new_remaining = ScaleDown(remaining, current.limit, old_limit);
      const int64_t charge = current.limit - new_remaining;
      std::optional<LimiterState> state = FreshState(current, now_ns);
      if (charge > 0) {
        Result<Evaluation> eval = Evaluate(current, state, Operation::kConsume, charge, now_ns);
        if (!eval.ok()) {
          plan.kind = Plan::Kind::kInvalid;
          plan.reason = PolicyChangeError(limiter.policy, current, eval.status().message());
          plan.record = std::move(record);
          return plan;
        }
      }
      limiter.policy = current;
      limiter.state = std::move(*state);
      record.expires_at_ns = ExpiresAt(current, limiter.state);
      break;
    }
  }
  // A state that is already fresh again needs no key.
  if (internal::IsExpired(record.expires_at_ns, now_ns)) {
    plan.kind = Plan::Kind::kDelete;
  } else {
    plan.kind = Plan::Kind::kPut;
  }
  plan.record = std::move(record);
  return plan;
}

Plan PlanRecord(const ExportEntry& entry, const ImportOptions& options, int64_t now_ns) {
  Plan plan;
  if (!entry.record.has_value()) {
    plan.kind = Plan::Kind::kInvalid;
    plan.reason = entry.invalid;
    return plan;
  }
  const Record& record = *entry.record;
  if (record.key.substr(0, std::min(record.key.size(), options.key_prefix.size())) != options.key_prefix) {
    plan.kind = Plan::Kind::kSkipped;
    plan.record.key = record.key;
    return plan;
  }
  if (Status s = ValidateKey(record.key); !s.ok()) {
    plan.kind = Plan::Kind::kInvalid;
    plan.reason = s;
    plan.record.key = record.key;
    return plan;
  }
  if (internal::IsExpired(record.expires_at_ns, now_ns)) {
    plan.kind = Plan::Kind::kExpired;
    plan.record.key = record.key;
    return plan;
  }
  if (const auto* limiter = std::get_if<LimiterRecord>(&record.value)) {
    const CurrentPolicy* current = FindPolicy(options.current_policies, record.key);
    if (current != nullptr && !(current->policy == limiter->policy)) {
      return ChangePolicy(record, current->policy, options.policy_change, now_ns, options.max_future);
    }
  }
  plan.kind = Plan::Kind::kPut;
  plan.record = record;
  return plan;
}

void Count(const Plan& plan, const ExportEntry& entry, const ImportOptions& options, ImportReport* report) {
  if (plan.policy_changed) ++report->policy_changed;
  switch (plan.kind) {
    case Plan::Kind::kPut: ++report->restored; break;
    case Plan::Kind::kDelete: ++report->reset; break;
    case Plan::Kind::kExpired: ++report->expired; break;
    case Plan::Kind::kSkipped: ++report->skipped; break;
    case Plan::Kind::kInvalid:
      ++report->invalid;
      if (report->invalid_records.size() < options.max_listed_invalid) {
        report->invalid_records.push_back(InvalidRecord{entry.index, plan.record.key, plan.reason});
      }
      break;
  }
}

Status Apply(Store& store, const Plan& plan) {
  switch (plan.kind) {
    case Plan::Kind::kPut: return store.Put(plan.record);
    case Plan::Kind::kDelete: return store.Delete(plan.record.key);
    default: return Status::Ok();
  }
}

// One pass over the stream. Writes when `apply`; counts into `*report`.
// The stream as the checking pass of an all-or-nothing import saw it: its
// header and the running CRC after each record (4 bytes a record), so the
// applying pass writes nothing the check did not see.
struct CheckedStream {
  ExportHeader header;
  std::vector<uint32_t> crc_after;
};

// One pass over the stream. `record` (checking pass) notes what was read;
// `expect` (applying pass) refuses, before writing it, a header or record
// that differs from what the checking pass read.
Status Pass(Store& store, const SourceOpener& open_source, const ImportOptions& options, int64_t now_ns, bool apply,
            ImportReport* report, uint32_t* checksum, CheckedStream* record = nullptr,
            const CheckedStream* expect = nullptr) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> source, open_source());
  if (source == nullptr) return InvalidArgumentError("import: the source opener returned no source");
  ExportReadOptions read_options;
  read_options.compressions = options.compressions;
  read_options.now_ns = now_ns;
  read_options.max_future = options.max_future;
  read_options.max_record_bytes = options.max_record_bytes;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<ExportReader> reader, ExportReader::Open(source.get(), read_options));
  report->header = reader->header();
  if (record != nullptr) record->header = reader->header();
  if (expect != nullptr && !(reader->header() == expect->header)) {
    return DataLossError("import: the source's header changed since it was checked; nothing was written");
  }
  ExportEntry entry;
  uint64_t written = 0;
  uint64_t index = 0;
  while (true) {
    Result<bool> next = reader->Next(&entry);
    if (!next.ok()) {
      if (apply && written > 0) {
        return Status(next.status().code(),
                      std::string(next.status().message()) + " (" + std::to_string(written) +
                          " records were applied before this error)");
      }
      return next.status();
    }
    if (!*next) break;
    if (record != nullptr) record->crc_after.push_back(reader->checksum());
    if (expect != nullptr && (index >= expect->crc_after.size() || expect->crc_after[index] != reader->checksum())) {
      return DataLossError("import: the source changed since it was checked, at record " + std::to_string(index) +
                           "; " + std::to_string(written) + " records checked before it were written");
    }
    ++index;
    const Plan plan = PlanRecord(entry, options, now_ns);
    Count(plan, entry, options, report);
    if (apply) {
      Status s = Apply(store, plan);
      if (!s.ok()) {
        return Status(s.code(), "import: writing key " + std::to_string(entry.index) + " to the " +
                                    std::string(store.name()) + " store failed after " +
                                    std::to_string(written) + " writes: " + std::string(s.message()));
      }
      if (plan.kind == Plan::Kind::kPut || plan.kind == Plan::Kind::kDelete) ++written;
    }
  }
  *checksum = reader->checksum();
  return Status::Ok();
}

}  // namespace

Result<ImportReport> ImportStore(Store& store, const SourceOpener& open_source, const ImportOptions& options) {
  if (!open_source) return InvalidArgumentError("import: no source opener");
  for (const CurrentPolicy& p : options.current_policies) {
    Status s = p.policy.Validate();
    if (!s.ok()) {
      return InvalidArgumentError("import: current policy for prefix \"" + p.key_prefix +
                                  "\": " + std::string(s.message()));
    }
  }
  const int64_t now_ns = (options.clock != nullptr ? *options.clock : store.clock()).NowNanos();
  ImportReport report;
  uint32_t checksum = 0;
  if (options.dry_run) {
    SLUICE_RETURN_IF_ERROR(Pass(store, open_source, options, now_ns, /*apply=*/false, &report, &checksum));
    return report;
  }
  if (!options.all_or_nothing) {
    SLUICE_RETURN_IF_ERROR(Pass(store, open_source, options, now_ns, /*apply=*/true, &report, &checksum));
    report.applied = true;
    return report;
  }
  // All or nothing: the whole stream must check out before anything is written.
  CheckedStream checked;
  SLUICE_RETURN_IF_ERROR(
      Pass(store, open_source, options, now_ns, /*apply=*/false, &report, &checksum, &checked, nullptr));
  if (report.invalid > 0) return report;  // applied == false
  ImportReport second;
  uint32_t second_checksum = 0;
  Status s = Pass(store, open_source, options, now_ns, /*apply=*/true, &second, &second_checksum, nullptr, &checked);
  if (!s.ok()) {
    return Status(s.code(), "import: the source changed or failed between the check and the apply pass: " +
                                std::string(s.message()));
  }
  if (second_checksum != checksum || second.restored != report.restored) {
    return DataLossError("import: the source changed between the check and the apply pass");
  }
  second.applied = true;
  return second;
}

Result<ImportReport> ImportStoreFromString(Store& store, std::string_view stream, const ImportOptions& options) {
  return ImportStore(
      store, [stream]() -> Result<std::unique_ptr<SequentialFile>> { return NewStringSequentialFile(stream); },
      options);
}

}  // namespace sluice
