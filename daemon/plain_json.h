// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// PlainJsonScanner: a single pass over a plain subset of JSON, for the hot
// request paths that would otherwise build a JSON tree per request. The
// subset: objects, arrays, strings of printable ASCII without escapes, and
// integers of at most 18 digits without fraction, exponent, leading zeros or
// "-0". Every method returns false when the text leaves that subset (or is
// not JSON at all). Callers then hand the text to their strict parser, so
// "false" never becomes an answer of its own: the fast path only has to agree
// with the strict one on what it accepts, which tests check.
//
// Thread-safety: one scanner per thread; it views text the caller keeps alive.

#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace sluice::daemon {

class PlainJsonScanner {
 public:
  explicit PlainJsonScanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  const char* position() const { return p_; }

  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // A string of printable ASCII without escapes.
  bool String(std::string_view* out) {
    if (!Consume('"')) return false;
    const char* start = p_;
    while (p_ < end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
      ++p_;
    }
    return false;
  }

  // An integer literal of at most 18 digits (so it cannot overflow), without
  // fraction, exponent, leading zeros or "-0".
  bool Int(int64_t* out) {
    SkipSpace();
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    const char* digits = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const size_t n = static_cast<size_t>(p_ - digits);
    if (n == 0 || n > 18 || (*digits == '0' && (n > 1 || digits != start))) return false;
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    return std::from_chars(start, p_, *out).ec == std::errc();
  }

  // An object; `member(name)` reads each member's value (false: give up).
  template <class Member>
  bool Object(Member&& member) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    for (;;) {
      std::string_view name;
      if (!String(&name) || !Consume(':') || !member(name)) return false;
      if (Consume(',')) continue;
      return Consume('}');
    }
  }

  // An array; `element()` reads each element (false: give up).
  template <class Element>
  bool Array(Element&& element) {
    if (!Consume('[')) return false;
    if (Consume(']')) return true;
    for (;;) {
      if (!element()) return false;
      if (Consume(',')) continue;
      return Consume(']');
    }
  }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace sluice::daemon
