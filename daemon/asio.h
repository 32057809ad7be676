// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Include this instead of Asio/Beast headers directly: Boost 1.74's Asio uses
// std::exchange without including <utility>, which GCC 12 rejects.

#pragma once

#include <utility>  // IWYU pragma: keep

#include <boost/asio.hpp>  // IWYU pragma: export
