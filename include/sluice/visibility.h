// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// SLUICE_EXPORT marks the symbols of the public API. The library is built with
// hidden visibility, so only what carries this macro is exported from a shared
// libsluice.

#pragma once

#if defined(SLUICE_SHARED_LIBRARY)
#if defined(SLUICE_COMPILE_LIBRARY)
#define SLUICE_EXPORT [[gnu::visibility("default")]]
#else
#define SLUICE_EXPORT
#endif
#else
#define SLUICE_EXPORT
#endif
