// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Include Asio through this header only. Boost 1.74's awaitable.hpp uses
// std::exchange without including <utility>, which GCC 12 rejects
// (chriskohlhoff/asio#944), so <utility> comes first.

#pragma once

// clang-format off: the order is the point of this header.
#include <utility>
#include <boost/asio.hpp>
// clang-format on
