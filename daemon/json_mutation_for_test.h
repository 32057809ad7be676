// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Random edits of JSON text for tests that hold a fast parser equal to a
// strict one: a piece inserted, a few bytes deleted or replaced by a piece, a
// digit changed to a digit or a letter to a letter (edits that usually keep
// the text in the fast parser's subset, so both paths get compared).
// Deterministic for a given generator state.

#pragma once

#include <cctype>
#include <cstdint>
#include <random>
#include <span>
#include <string>

namespace sluice::daemon {

inline void MutateJson(std::mt19937_64& rng, std::span<const std::string> pieces, int edits,
                       std::string* text) {
  for (int e = 0; e < edits; ++e) {
    const size_t at = rng() % (text->size() + 1);
    const std::string& piece = pieces[rng() % pieces.size()];
    const bool inside = at < text->size();
    switch (rng() % 4) {
      case 0:
        text->insert(at, piece);
        break;
      case 1:
        if (inside) text->erase(at, 1 + rng() % 4);
        break;
      case 2:
        if (inside) text->replace(at, 1 + rng() % 4, piece);
        break;
      default:
        if (inside && std::isdigit(static_cast<unsigned char>((*text)[at]))) {
          (*text)[at] = static_cast<char>('0' + rng() % 10);
        } else if (inside && std::isalpha(static_cast<unsigned char>((*text)[at]))) {
          (*text)[at] = static_cast<char>('a' + rng() % 26);
        }
        break;
    }
  }
}

}  // namespace sluice::daemon
