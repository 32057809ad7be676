// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Result<T> holds either a value of type T or a non-OK Status (abseil's
// StatusOr, without the dependency). It is what every fallible sluice call that
// produces a value returns.
//
// A Result is a plain value with the thread-safety of T.
//
// Example:
//   sluice::Result<std::chrono::nanoseconds> d = sluice::ParseDuration("90s");
//   if (!d.ok()) return d.status();
//   Use(*d);
//
// Inside functions that return Status or Result, the macros keep this short:
//   SLUICE_ASSIGN_OR_RETURN(auto d, sluice::ParseDuration(text));
//   SLUICE_RETURN_IF_ERROR(store.Delete(key));

#pragma once

#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "sluice/status.h"

namespace sluice {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is not allowed");

 public:
  // A value. Implicit, so `return value;` works.
  Result(const T& value) : value_(value) {}   // NOLINT(google-explicit-constructor)
  Result(T&& value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <typename U,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Result> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT(google-explicit-constructor)

  // Converts a Result<U> whose value converts to T, e.g.
  // Result<std::unique_ptr<Derived>> to Result<std::unique_ptr<Base>>.
  template <typename U, typename = std::enable_if_t<!std::is_same_v<U, T> && std::is_constructible_v<T, U&&>>>
  Result(Result<U>&& other) {  // NOLINT(google-explicit-constructor)
    if (other.ok()) {
      value_.emplace(std::move(other).value());
    } else {
      status_ = std::move(other).status();
    }
  }

  // An error. REQUIRES: !status.ok(); an OK status becomes kInternal.
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = InternalError("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  // REQUIRES: ok(). Aborts otherwise, as an unchecked access is a bug.
  const T& value() const& { CheckOk(); return *value_; }
  T& value() & { CheckOk(); return *value_; }
  T&& value() && { CheckOk(); return std::move(*value_); }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The value, or `fallback` on error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void CheckOk() const {
    if (!value_.has_value()) std::abort();
  }

  Status status_;
  std::optional<T> value_;
};

namespace internal {
inline Status AsStatus(const Status& s) { return s; }
inline Status AsStatus(Status&& s) { return std::move(s); }
template <typename T>
Status AsStatus(const Result<T>& r) { return r.status(); }
template <typename T>
Status AsStatus(Result<T>&& r) { return std::move(r).status(); }
}  // namespace internal

}  // namespace sluice

#define SLUICE_INTERNAL_CONCAT_INNER(a, b) a##b
#define SLUICE_INTERNAL_CONCAT(a, b) SLUICE_INTERNAL_CONCAT_INNER(a, b)

// Evaluates `expr` (a Status or Result); returns its status from the enclosing
// function when it is not OK.
#define SLUICE_RETURN_IF_ERROR(expr)                                            \
  do {                                                                          \
    ::sluice::Status sluice_status_ = ::sluice::internal::AsStatus((expr));     \
    if (!sluice_status_.ok()) return sluice_status_;                            \
  } while (false)

// Evaluates `rexpr` (a Result<T>); on error returns its status, otherwise moves
// the value into `lhs` (which may declare a variable: `auto x`).
#define SLUICE_ASSIGN_OR_RETURN(lhs, rexpr) \
  SLUICE_INTERNAL_ASSIGN_OR_RETURN(SLUICE_INTERNAL_CONCAT(sluice_result_, __LINE__), lhs, rexpr)

#define SLUICE_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                     \
  if (!tmp.ok()) return std::move(tmp).status();          \
  lhs = std::move(tmp).value()
