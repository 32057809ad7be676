// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "sluice/file_system.h"

namespace sluice {
namespace {

class PosixFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "sluice_fs_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    // Test directories are flat except for the nested one below.
    auto names = fs_.ListDirectory(dir_);
    if (names.ok()) {
      for (const auto& name : *names) {
        const std::string path = JoinPath(dir_, name);
        if (fs_.Remove(path).ok()) continue;
        auto inner = fs_.ListDirectory(path);
        if (inner.ok()) {
          for (const auto& n : *inner) fs_.Remove(JoinPath(path, n)).IgnoreError();  // cleanup
        }
        fs_.Remove(path).IgnoreError();  // cleanup
      }
    }
    fs_.Remove(dir_).IgnoreError();  // cleanup
  }
  std::string Path(const std::string& name) const { return JoinPath(dir_, name); }

  FileSystem& fs_ = FileSystem::Default();
  std::string dir_;
};

TEST_F(PosixFileSystemTest, WriteSyncReadRoundTrip) {
  auto file = fs_.NewWritableFile(Path("a"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::string big(200'000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append(big).ok());  // larger than the write buffer
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*file)->Append("0123456789").ok());
  EXPECT_EQ((*file)->Size(), 6 + big.size() + 10'000);
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE((*file)->Close().ok());  // twice is OK
  auto back = ReadFileToString(fs_, Path("a"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size(), 6 + big.size() + 10'000);
  EXPECT_EQ(back->substr(0, 6), "hello ");
  EXPECT_EQ(back->substr(6, big.size()), big);
  EXPECT_EQ(*fs_.FileSize(Path("a")), back->size());
}

TEST_F(PosixFileSystemTest, AppendableFileStartsAtTheEnd) {
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("log"), "abc").ok());
  auto file = fs_.NewAppendableFile(Path("log"));
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->Size(), 3u);
  ASSERT_TRUE((*file)->Append("def").ok());
  EXPECT_EQ((*file)->Size(), 6u);
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*ReadFileToString(fs_, Path("log")), "abcdef");
}

TEST_F(PosixFileSystemTest, CreateWithoutTruncateRefusesAnExistingFile) {
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("f"), "old").ok());
  auto again = fs_.NewWritableFile(Path("f"), /*truncate=*/false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find(Path("f")), std::string_view::npos);
  auto truncated = fs_.NewWritableFile(Path("f"), /*truncate=*/true);
  ASSERT_TRUE(truncated.ok());
  ASSERT_TRUE((*truncated)->Close().ok());
  EXPECT_EQ(*fs_.FileSize(Path("f")), 0u);
}

TEST_F(PosixFileSystemTest, MissingPathsAreNotFoundWithPathAndReason) {
  const std::string missing = Path("missing");
  for (const Status& s : {fs_.NewSequentialFile(missing).status(), fs_.FileSize(missing).status(),
                          fs_.Remove(missing), fs_.Rename(missing, Path("x")), fs_.SyncDirectory(missing),
                          fs_.ListDirectory(missing).status(), ReadFileToString(fs_, missing).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
    EXPECT_NE(s.message().find(missing), std::string_view::npos) << s.ToString();
    EXPECT_NE(s.message().find("No such file"), std::string_view::npos) << s.ToString();
  }
  EXPECT_FALSE(*fs_.Exists(missing));
  EXPECT_FALSE(*fs_.Exists(JoinPath(missing, "below")));
}

// Errors that no retry can cure are not kUnavailable (which says "retry").
TEST_F(PosixFileSystemTest, ErrorsRetriesCannotCureAreNotUnavailable) {
  // Reading a directory as a file fails with EISDIR.
  auto file = fs_.NewSequentialFile(dir_);
  ASSERT_TRUE(file.ok());
  std::string out;
  Status s = (*file)->Read(10, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("Is a directory"), std::string_view::npos) << s.ToString();
  // A path under a regular file is missing (ENOTDIR).
  ASSERT_TRUE(WriteFileAtomically(fs_, JoinPath(dir_, "plain"), "x").ok());
  EXPECT_EQ(fs_.NewSequentialFile(JoinPath(dir_, "plain/below")).status().code(), StatusCode::kNotFound);
}

TEST_F(PosixFileSystemTest, FullDiskIsResourceExhaustedAndTheFileStaysFailed) {
  // /dev/full fails every write with ENOSPC.
  auto file = fs_.NewAppendableFile("/dev/full");
  if (!file.ok()) GTEST_SKIP() << "no /dev/full: " << file.status().ToString();
  Status s = (*file)->Append(std::string(100'000, 'x'));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("/dev/full"), std::string_view::npos);
  // Never retried into a success on the same file.
  EXPECT_EQ((*file)->Append("y").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*file)->Sync().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*file)->Close().code(), StatusCode::kResourceExhausted);
}

TEST_F(PosixFileSystemTest, RenameListExistsRemove) {
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("b"), "B").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("a"), "A").ok());
  ASSERT_TRUE(fs_.Rename(Path("b"), Path("c")).ok());
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  EXPECT_EQ(*fs_.ListDirectory(dir_), (std::vector<std::string>{"a", "c"}));
  ASSERT_TRUE(fs_.Rename(Path("c"), Path("a")).ok());  // replaces
  EXPECT_EQ(*ReadFileToString(fs_, Path("a")), "B");
  EXPECT_TRUE(*fs_.Exists(Path("a")));
  ASSERT_TRUE(fs_.Remove(Path("a")).ok());
  EXPECT_FALSE(*fs_.Exists(Path("a")));
  EXPECT_TRUE(fs_.ListDirectory(dir_)->empty());
}

TEST_F(PosixFileSystemTest, CreateDirectoriesMakesParentsAndAcceptsExisting) {
  const std::string nested = Path("x/y/z");
  ASSERT_TRUE(fs_.CreateDirectories(nested).ok());
  ASSERT_TRUE(fs_.CreateDirectories(nested).ok());
  ASSERT_TRUE(fs_.CreateDirectories(nested + "/").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, JoinPath(nested, "f"), "1").ok());
  EXPECT_EQ(*fs_.ListDirectory(nested), std::vector<std::string>{"f"});
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("file"), "1").ok());
  EXPECT_FALSE(fs_.CreateDirectories(Path("file")).ok());
  EXPECT_FALSE(fs_.CreateDirectories(Path("file/sub")).ok());
  EXPECT_EQ(fs_.CreateDirectories("").code(), StatusCode::kInvalidArgument);
  for (const char* p : {"x/y/z/f", "x/y/z", "x/y", "x"}) ASSERT_TRUE(fs_.Remove(Path(p)).ok()) << p;
}

TEST_F(PosixFileSystemTest, WriteFileAtomicallyReplacesAndLeavesNoTempFile) {
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("m"), "one").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, Path("m"), "two!").ok());
  EXPECT_EQ(*ReadFileToString(fs_, Path("m")), "two!");
  EXPECT_EQ(*fs_.ListDirectory(dir_), std::vector<std::string>{"m"});
  // A target in a missing directory fails and leaves nothing.
  EXPECT_EQ(WriteFileAtomically(fs_, Path("no/m"), "x").code(), StatusCode::kNotFound);
}

TEST_F(PosixFileSystemTest, LockIsExclusiveWithinAndAcrossProcesses) {
  const std::string path = Path("LOCK");
  auto lock = fs_.LockFile(path);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  auto second = fs_.LockFile(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("this process"), std::string_view::npos);

  // Another process cannot take it while it is held ...
  auto other_process_locks = [&]() -> int {
    const pid_t pid = ::fork();
    if (pid == 0) {
      auto l = FileSystem::Default().LockFile(path);
      ::_exit(l.ok() ? 0 : (l.status().code() == StatusCode::kFailedPrecondition ? 1 : 2));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(other_process_locks(), 1);
  // ... and can once it is released; so can this process.
  lock->reset();
  EXPECT_EQ(other_process_locks(), 0);
  auto again = fs_.LockFile(path);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST(PathTest, DirectoryOfAndJoinPath) {
  EXPECT_EQ(DirectoryOf("a/b/c.txt"), "a/b");
  EXPECT_EQ(DirectoryOf("c.txt"), ".");
  EXPECT_EQ(DirectoryOf("/c"), "/");
  EXPECT_EQ(DirectoryOf("/a/b"), "/a");
  EXPECT_EQ(DirectoryOf("a//b"), "a");
  EXPECT_EQ(JoinPath("a/b", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("a/b/", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("", "c"), "c");
  EXPECT_EQ(JoinPath("/", "c"), "/c");
}

}  // namespace
}  // namespace sluice
