// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The helpers of sluice/file_system.h that work on any FileSystem.

#include <string>
#include <string_view>

#include "sluice/file_system.h"

namespace sluice {

Result<std::string> ReadFileToString(FileSystem& fs, const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, fs.NewSequentialFile(path));
  std::string contents;
  // The size is only a hint: the file may change while it is read.
  Result<uint64_t> size = fs.FileSize(path);
  if (size.ok() && *size < (uint64_t{1} << 34)) contents.reserve(static_cast<size_t>(*size));
  std::string chunk;
  while (true) {
    SLUICE_RETURN_IF_ERROR(file->Read(size_t{1} << 20, &chunk));
    if (chunk.empty()) break;
    contents += chunk;
  }
  return contents;
}

Status WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  Status s = [&]() -> Status {
    SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.NewWritableFile(tmp, /*truncate=*/true));
    SLUICE_RETURN_IF_ERROR(file->Append(contents));
    SLUICE_RETURN_IF_ERROR(file->Sync());
    SLUICE_RETURN_IF_ERROR(file->Close());
    return fs.Rename(tmp, path);
  }();
  if (!s.ok()) {
    // The target still holds its old contents; the temp file is garbage.
    fs.Remove(tmp).IgnoreError();  // best effort: a missing or undeletable temp file changes nothing
    return s;
  }
  // Until the directory is synced, a power loss may bring the old file back.
  return fs.SyncDirectory(DirectoryOf(path));
}

std::string DirectoryOf(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string_view::npos) return ".";
  size_t end = slash;
  while (end > 0 && path[end - 1] == '/') --end;  // "a//b" -> "a"
  if (end == 0) return "/";
  return std::string(path.substr(0, end));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out += '/';
  out += name;
  return out;
}

}  // namespace sluice
