// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Status is the error value of every sluice operation. Nothing in the public API
// throws; a call either succeeds (`ok()`) or returns a Status whose code says
// what the caller may do about it. A Status is a cheap value: an OK status holds
// no allocation.
//
// Status is not thread-safe for concurrent mutation, but distinct copies may be
// used from different threads freely.
//
// Example:
//   sluice::Status s = store.Delete("k");
//   if (!s.ok()) LOG(s.ToString());

#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "sluice/visibility.h"

namespace sluice {

// Canonical error codes. Persisted and sent over the wire by later components:
// do not change the values of existing entries.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,     // Bad config, key, cost or input. Do not retry.
  kNotFound = 2,            // No such key, checkpoint or file.
  kUnavailable = 3,         // Backend unreachable, or failed before the write. Safe to retry with backoff.
  kDeadlineExceeded = 4,    // Deadline hit. The outcome is UNKNOWN.
  kAborted = 5,             // Version/CAS conflict. Retry the whole read-modify-write.
  kFailedPrecondition = 6,  // Wrong state (e.g. store closed). Do not retry.
  kDataLoss = 7,            // Stored or serialized state is corrupt.
  kNotSupported = 8,        // Backend not compiled in, or operation not offered.
  kInternal = 9,            // A broken invariant inside sluice.
  kResourceExhausted = 10,  // A configured cap was reached (keys, sizes).
  kAlreadyExists = 11,      // The thing to create exists already.
};

// Returns the code's name without the `k`, e.g. "InvalidArgument".
SLUICE_EXPORT std::string_view StatusCodeName(StatusCode code);

class SLUICE_EXPORT [[nodiscard]] Status {
 public:
  // An OK status.
  Status() noexcept = default;
  // A status with `code` and `message`. An OK code ignores the message.
  Status(StatusCode code, std::string_view message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&& other) noexcept = default;
  Status& operator=(Status&& other) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message; empty for OK.
  std::string_view message() const;
  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // Marks a status as deliberately ignored. Greppable; say why at the call site.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// One factory per code.
SLUICE_EXPORT Status InvalidArgumentError(std::string_view message);
SLUICE_EXPORT Status NotFoundError(std::string_view message);
SLUICE_EXPORT Status UnavailableError(std::string_view message);
SLUICE_EXPORT Status DeadlineExceededError(std::string_view message);
SLUICE_EXPORT Status AbortedError(std::string_view message);
SLUICE_EXPORT Status FailedPreconditionError(std::string_view message);
SLUICE_EXPORT Status DataLossError(std::string_view message);
SLUICE_EXPORT Status NotSupportedError(std::string_view message);
SLUICE_EXPORT Status InternalError(std::string_view message);
SLUICE_EXPORT Status ResourceExhaustedError(std::string_view message);
SLUICE_EXPORT Status AlreadyExistsError(std::string_view message);

}  // namespace sluice
