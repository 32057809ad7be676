// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The one mapping from errno values to Status codes that every FileSystem in
// sluice uses (the POSIX one and the fault-injecting one in sluice::testing),
// so that a test that injects ENOSPC sees exactly what a full disk gives.
// Private to the library. Pure functions.

#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::internal {

// "<what> <path>: <strerror(err)>" with the code for `err`: ENOENT and
// ENOTDIR (a missing path) are kNotFound, EEXIST kAlreadyExists, ENOSPC and
// EDQUOT kResourceExhausted; EACCES, EPERM and EROFS kFailedPrecondition and
// EISDIR and ENAMETOOLONG kInvalidArgument (retrying cannot help); everything
// else (EIO, ...) kUnavailable.
inline Status ErrnoStatus(std::string_view what, std::string_view path, int err) {
  std::string message(what);
  message += ' ';
  message += path;
  message += ": ";
  message += std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return FailedPreconditionError(message);
    case EISDIR:
    case ENAMETOOLONG:
      return InvalidArgumentError(message);
    case EEXIST:
      return AlreadyExistsError(message);
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
      return ResourceExhaustedError(message);
    default:
      return UnavailableError(message);
  }
}

}  // namespace sluice::internal
