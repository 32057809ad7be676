// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Export and import through files: the POSIX file system, and the
// fault-injecting one (write, sync and read failures, power loss).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "sluice/file_system.h"
#include "sluice/memory_store.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/fault_file_system.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using testing::FaultFileSystem;
using testing::FsOp;
using testing::ScanSorted;

class ExportFileTest : public ::testing::Test {
 protected:
  std::unique_ptr<MemoryStore> NewStore() {
    return std::move(*MemoryStore::Create({.clock = &clock_, .sweep_interval = std::chrono::seconds(0)}));
  }

  // A backup as an application writes it: export, Sync, Close.
  Status Backup(FileSystem& fs, Store& store, const std::string& path, ExportEncoding encoding) {
    SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.NewWritableFile(path));
    SLUICE_RETURN_IF_ERROR(ExportStore(store, "", *file, {.encoding = encoding}).status());
    SLUICE_RETURN_IF_ERROR(file->Sync());
    return file->Close();
  }

  Result<ImportReport> Restore(FileSystem& fs, Store& store, const std::string& path) {
    return ImportStore(store, [&] { return fs.NewSequentialFile(path); }, {.all_or_nothing = true});
  }

  testing::SimulatedClock clock_;
};

TEST_F(ExportFileTest, BackupAndRestoreThroughPosixFiles) {
  FileSystem& fs = FileSystem::Default();
  const std::string dir = ::testing::TempDir() + "sluice-export-" + std::to_string(::getpid());
  ASSERT_TRUE(fs.CreateDirectories(dir).ok());
  auto source = NewStore();
  for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) ASSERT_TRUE(source->Put(r).ok());
  for (ExportEncoding encoding : {ExportEncoding::kNdjson, ExportEncoding::kBinary}) {
    const std::string path = JoinPath(dir, std::string("backup.") + std::string(ExportEncodingName(encoding)));
    ASSERT_TRUE(Backup(fs, *source, path, encoding).ok());
    auto target = NewStore();
    Result<ImportReport> r = Restore(fs, *target, path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->restored, 10u);
    EXPECT_EQ(ScanSorted(*target, ""), ScanSorted(*source, ""));
    EXPECT_TRUE(fs.Remove(path).ok());
  }
  EXPECT_TRUE(fs.Remove(dir).ok());
}

// Every call of a backup failing in turn: the backup reports the failure,
// and whatever file it left never restores into a changed store.
TEST_F(ExportFileTest, EveryFailedCallOfABackupIsReportedAndItsFileNeverRestores) {
  auto source = NewStore();
  for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) ASSERT_TRUE(source->Put(r).ok());
  for (ExportEncoding encoding : {ExportEncoding::kNdjson, ExportEncoding::kBinary}) {
    uint64_t calls = 0;
    {
      FaultFileSystem fs;
      ASSERT_TRUE(Backup(fs, *source, "/b", encoding).ok());
      calls = fs.calls();
    }
    ASSERT_GT(calls, 2u);
    for (uint64_t n = 1; n <= calls; ++n) {
      FaultFileSystem fs;
      fs.FailCall(n, n % 2 == 0 ? ENOSPC : EIO);
      Status s = Backup(fs, *source, "/b", encoding);
      EXPECT_FALSE(s.ok()) << "call " << n << " failed, yet the backup said OK";
      fs.ClearFaults();
      fs.SimulatePowerLoss();
      auto target = NewStore();
      ASSERT_TRUE(target->Put("existing", "v").ok());
      Result<ImportReport> r = Restore(fs, *target, "/b");
      EXPECT_FALSE(r.ok() && r->applied) << "call " << n;
      EXPECT_EQ(ScanSorted(*target, "").size(), 1u) << "call " << n;
    }
  }
}

TEST_F(ExportFileTest, PowerLossBeforeSyncLeavesAFileThatIsRejected) {
  auto source = NewStore();
  for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) ASSERT_TRUE(source->Put(r).ok());
  for (bool garble : {false, true}) {
    FaultFileSystem fs({.garble_unsynced_tail = garble, .seed = 9});
    ASSERT_TRUE(fs.CreateDirectories("/d").ok());
    ASSERT_TRUE(fs.SyncDirectory("/").ok());
    auto file = *fs.NewWritableFile("/d/b");
    ASSERT_TRUE(fs.SyncDirectory("/d").ok());
    ASSERT_TRUE(ExportStore(*source, "", *file, {}).ok());
    ASSERT_TRUE(file->Flush().ok());  // written, not synced
    fs.SimulatePowerLoss();
    auto target = NewStore();
    Result<ImportReport> r = Restore(fs, *target, "/d/b");
    ASSERT_FALSE(r.ok() && r->applied);
    EXPECT_TRUE(ScanSorted(*target, "").empty());
  }
}

// A read failure in the checking pass writes nothing. One in the applying
// pass (the file became unreadable between the passes) stops the import and
// says how many records it had written.
TEST_F(ExportFileTest, ReadFailuresAreReported) {
  auto source = NewStore();
  for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) ASSERT_TRUE(source->Put(r).ok());
  FaultFileSystem fs;
  ASSERT_TRUE(Backup(fs, *source, "/b", ExportEncoding::kBinary).ok());
  int failed_before_any_write = 0;
  int failed_after_writes = 0;
  for (uint64_t skip = 0; skip < 8; ++skip) {
    fs.ClearFaults();
    fs.FailNext(FsOp::kRead, EIO, skip);
    auto target = NewStore();
    Result<ImportReport> r = Restore(fs, *target, "/b");
    if (r.ok()) {
      EXPECT_EQ(r->restored, 10u);  // the failure came after both passes
      continue;
    }
    const std::string message(r.status().message());
    const size_t written = ScanSorted(*target, "").size();
    if (message.find("records were applied before this error") == std::string::npos) {
      ++failed_before_any_write;
      EXPECT_EQ(written, 0u) << message;
    } else {
      ++failed_after_writes;
      EXPECT_THAT(message, ::testing::HasSubstr("between the check and the apply pass"));
      EXPECT_THAT(message, ::testing::HasSubstr(std::to_string(written) + " records were applied"));
    }
  }
  EXPECT_GT(failed_before_any_write, 0);
}

}  // namespace
}  // namespace sluice
