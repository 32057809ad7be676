// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/testing/fault_file_system.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::testing {
namespace {

Status WriteSynced(FileSystem& fs, const std::string& path, std::string_view data, bool sync = true) {
  SLUICE_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile(path));
  SLUICE_RETURN_IF_ERROR(file->Append(data));
  if (sync) SLUICE_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

std::string Contents(FileSystem& fs, const std::string& path) {
  auto r = ReadFileToString(fs, path);
  return r.ok() ? *r : "<" + std::string(StatusCodeName(r.status().code())) + ">";
}

TEST(FaultFileSystemTest, BehavesLikeAFileSystem) {
  FaultFileSystem fs;
  ASSERT_TRUE(fs.CreateDirectories("/d/e").ok());
  ASSERT_TRUE(fs.CreateDirectories("/d/e/").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/e/f", "hello").ok());
  EXPECT_EQ(Contents(fs, "/d/e/f"), "hello");
  EXPECT_EQ(*fs.FileSize("/d//e/f"), 5u);
  EXPECT_TRUE(*fs.Exists("/d/e"));
  EXPECT_FALSE(*fs.Exists("/d/x"));
  EXPECT_EQ(*fs.ListDirectory("/d"), std::vector<std::string>{"e"});
  EXPECT_EQ(fs.NewWritableFile("/d/e/f", false).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(fs.NewSequentialFile("/d/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs.NewWritableFile("/nodir/f").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs.Remove("/d/e").code(), StatusCode::kUnavailable);  // not empty
  auto app = fs.NewAppendableFile("/d/e/f");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ((*app)->Size(), 5u);
  ASSERT_TRUE((*app)->Append(" world").ok());
  ASSERT_TRUE((*app)->Close().ok());
  EXPECT_EQ(Contents(fs, "/d/e/f"), "hello world");
  ASSERT_TRUE(fs.Rename("/d/e/f", "/d/g").ok());
  EXPECT_EQ(fs.AllFiles(), std::vector<std::string>{"/d/g"});
  ASSERT_TRUE(fs.Remove("/d/g").ok());
  EXPECT_TRUE(fs.AllFiles().empty());
}

TEST(FaultFileSystemTest, PowerLossKeepsOnlySyncedDataAndSyncedEntries) {
  FaultFileSystem fs;
  ASSERT_TRUE(fs.CreateDirectories("/d").ok());
  ASSERT_TRUE(fs.SyncDirectory("/").ok());
  // Synced data, synced entry: survives.
  ASSERT_TRUE(WriteSynced(fs, "/d/durable", "kept").ok());
  // Synced data, entry never synced yet: written below, after the directory sync.
  ASSERT_TRUE(fs.SyncDirectory("/d").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/new", "lost").ok());
  // Unsynced data on a durable entry: the entry survives, empty.
  ASSERT_TRUE(WriteSynced(fs, "/d/durable2", "x", /*sync=*/false).ok());
  ASSERT_TRUE(fs.SyncDirectory("/d").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/new", "lost").ok());
  // Appended after the last sync: dropped.
  auto f = fs.NewAppendableFile("/d/durable");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(" and more").ok());

  EXPECT_EQ(*fs.DurableContents("/d/durable"), "kept");
  fs.SimulatePowerLoss();
  EXPECT_EQ(Contents(fs, "/d/durable"), "kept");
  EXPECT_EQ(Contents(fs, "/d/durable2"), "");
  EXPECT_EQ(Contents(fs, "/d/new"), "lost");  // its entry was synced with durable2's
  // The open file died with the power.
  EXPECT_EQ((*f)->Append("x").code(), StatusCode::kUnavailable);
}

TEST(FaultFileSystemTest, NewEntriesRenamesAndRemovesNeedADirectorySync) {
  FaultFileSystem fs;
  ASSERT_TRUE(fs.CreateDirectories("/d").ok());
  ASSERT_TRUE(fs.SyncDirectory("/").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/a", "A").ok());
  fs.SimulatePowerLoss();
  EXPECT_FALSE(*fs.Exists("/d/a"));  // created, not in a synced directory

  ASSERT_TRUE(WriteSynced(fs, "/d/a", "A").ok());
  ASSERT_TRUE(fs.SyncDirectory("/d").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/a.tmp", "B").ok());
  ASSERT_TRUE(fs.Rename("/d/a.tmp", "/d/a").ok());
  EXPECT_EQ(Contents(fs, "/d/a"), "B");
  fs.SimulatePowerLoss();
  EXPECT_EQ(Contents(fs, "/d/a"), "A");  // the rename was not durable
  EXPECT_EQ(*fs.ListDirectory("/d"), std::vector<std::string>{"a"});

  ASSERT_TRUE(fs.Remove("/d/a").ok());
  fs.SimulatePowerLoss();
  EXPECT_EQ(Contents(fs, "/d/a"), "A");  // nor was the removal
  ASSERT_TRUE(fs.Remove("/d/a").ok());
  ASSERT_TRUE(fs.SyncDirectory("/d").ok());
  fs.SimulatePowerLoss();
  EXPECT_FALSE(*fs.Exists("/d/a"));

  // A directory not synced into its parent vanishes with its contents.
  ASSERT_TRUE(fs.CreateDirectories("/d/sub").ok());
  ASSERT_TRUE(WriteSynced(fs, "/d/sub/f", "F").ok());
  ASSERT_TRUE(fs.SyncDirectory("/d/sub").ok());
  fs.SimulatePowerLoss();
  EXPECT_FALSE(*fs.Exists("/d/sub"));
}

TEST(FaultFileSystemTest, InjectedFailuresMapLikeThePosixOnesAndChangeNothing) {
  FaultFileSystem fs;
  ASSERT_TRUE(fs.CreateDirectories("/d").ok());
  fs.FailNext(FsOp::kAppend, ENOSPC);
  auto f = fs.NewWritableFile("/d/f");
  ASSERT_TRUE(f.ok());
  Status s = (*f)->Append("abc");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("/d/f"), std::string_view::npos);
  EXPECT_EQ(Contents(fs, "/d/f"), "");  // nothing written
  // The file stays failed; the next file works.
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*f)->Close().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(WriteSynced(fs, "/d/g", "g").ok());
  EXPECT_EQ(fs.injected_failures(), 1u);

  // The second Sync from now fails with EIO.
  fs.FailNext(FsOp::kSync, EIO, /*skip=*/1);
  EXPECT_TRUE(WriteSynced(fs, "/d/h", "1").ok());
  EXPECT_EQ(WriteSynced(fs, "/d/h", "2").code(), StatusCode::kUnavailable);
  EXPECT_TRUE(WriteSynced(fs, "/d/h", "3").ok());

  // Call number N.
  const uint64_t next = fs.calls() + 1;
  fs.FailCall(next + 1);
  EXPECT_TRUE(fs.Exists("/d").ok());
  EXPECT_FALSE(fs.Exists("/d").ok());
  EXPECT_TRUE(fs.Exists("/d").ok());

  fs.FailAlways(FsOp::kRename);
  EXPECT_FALSE(fs.Rename("/d/g", "/d/i").ok());
  EXPECT_FALSE(fs.Rename("/d/g", "/d/i").ok());
  EXPECT_TRUE(*fs.Exists("/d/g"));
  fs.ClearFaults();
  EXPECT_TRUE(fs.Rename("/d/g", "/d/i").ok());
}

TEST(FaultFileSystemTest, CountsCallsAndCrashesAfterCallN) {
  FaultFileSystem fs;
  const uint64_t before = fs.calls();
  ASSERT_TRUE(WriteSynced(fs, "/f", "x").ok());  // create, append, sync, close
  EXPECT_EQ(fs.calls() - before, 4u);
  EXPECT_EQ(fs.calls(FsOp::kSync), 1u);
  fs.CrashAfter(fs.calls() + 1);
  auto f = fs.NewWritableFile("/g");  // call N: succeeds
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Append("y").code(), StatusCode::kUnavailable);  // the machine is off
  EXPECT_FALSE(fs.Exists("/f").ok());
  fs.SimulatePowerLoss();
  EXPECT_TRUE(fs.Exists("/f").ok());
}

TEST(FaultFileSystemTest, GarbledTailKeepsTheSyncedPrefix) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    FaultFileSystem fs({.garble_unsynced_tail = true, .seed = seed});
    ASSERT_TRUE(WriteSynced(fs, "/f", std::string(100, 'a')).ok());
    ASSERT_TRUE(fs.SyncDirectory("/").ok());
    auto f = fs.NewAppendableFile("/f");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(std::string(2000, 'b')).ok());
    fs.SimulatePowerLoss();
    const std::string after = Contents(fs, "/f");
    ASSERT_GE(after.size(), 100u);
    ASSERT_LE(after.size(), 2100u);
    EXPECT_EQ(after.substr(0, 100), std::string(100, 'a'));
    if (after.size() > 612) {
      EXPECT_EQ(after.substr(100, after.size() - 612), std::string(after.size() - 612, 'b'));
    }
  }
}

TEST(FaultFileSystemTest, LocksAreExclusiveAndDieWithThePower) {
  FaultFileSystem fs;
  auto lock = fs.LockFile("/LOCK");
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(fs.LockFile("/LOCK").status().code(), StatusCode::kFailedPrecondition);
  lock->reset();
  auto again = fs.LockFile("/LOCK");
  ASSERT_TRUE(again.ok());
  fs.SimulatePowerLoss();
  EXPECT_TRUE(fs.LockFile("/LOCK").ok());
}

// WriteFileAtomically crashed after every call: the target holds the old or
// the new contents, never anything else; and once it returned OK the new
// contents survive. The directory-sync mutant breaks the second promise.
int AtomicWriteViolations(FaultFileSystemOptions options) {
  int violations = 0;
  for (uint64_t crash = 0;; ++crash) {
    FaultFileSystem fs(options);
    if (!fs.CreateDirectories("/d").ok() || !fs.SyncDirectory("/").ok()) return -1;
    if (!WriteFileAtomically(fs, "/d/m", "old contents").ok()) return -1;
    const uint64_t start = fs.calls();
    fs.CrashAfter(start + crash);
    const Status s = WriteFileAtomically(fs, "/d/m", "new contents, longer");
    const bool finished = fs.calls() - start <= crash;
    fs.SimulatePowerLoss();
    const std::string after = Contents(fs, "/d/m");
    if (after != "old contents" && after != "new contents, longer") ++violations;
    if (s.ok() && after != "new contents, longer") ++violations;
    if (finished) break;
  }
  return violations;
}

TEST(FaultFileSystemTest, AtomicWriteSurvivesACrashAfterEveryCall) {
  EXPECT_EQ(AtomicWriteViolations({}), 0);
  EXPECT_EQ(AtomicWriteViolations({.garble_unsynced_tail = true}), 0);
}

TEST(FaultFileSystemTest, SkippingTheDirectorySyncIsCaught) {
  EXPECT_GT(AtomicWriteViolations({.ignore_directory_sync = true}), 0);
  EXPECT_GT(AtomicWriteViolations({.ignore_file_sync = true, .garble_unsynced_tail = true}), 0);
}

}  // namespace
}  // namespace sluice::testing
