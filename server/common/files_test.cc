#include "server/common/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace eaos::common {
namespace {

using ::testing::HasSubstr;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eaos_files_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(FilesTest, ReadsAWholeFileUpToItsCap) {
  const std::string content(5000, 'x');
  const std::string path = Write("a.txt", content);
  absl::StatusOr<std::string> read = ReadFileCapped(path, 5000, "config");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, content);
  EXPECT_EQ(*ReadFileCapped(Write("empty", ""), 10, "config"), "");
}

TEST_F(FilesTest, RefusesAFileOneByteOverTheCapNamingItAndTheCap) {
  const std::string path = Write("big.json", std::string(1025, '{'));
  absl::StatusOr<std::string> read = ReadFileCapped(path, 1024, "model config");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("model config " + path));
  EXPECT_THAT(read.status().message(), HasSubstr("larger than the 1.0 KiB allowed"));
  EXPECT_FALSE(CheckRegularFile(path, "model config", 1024).ok());
  EXPECT_TRUE(CheckRegularFile(path, "model config", 1025).ok());
}

TEST_F(FilesTest, MissingFileIsNotFound) {
  absl::StatusOr<std::string> read = ReadFileCapped((dir_ / "nope").string(), 10, "golden file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr("golden file"));
}

TEST_F(FilesTest, RefusesADirectoryAFifoAndADeviceWithoutReading) {
  EXPECT_THAT(ReadFileCapped(dir_.string(), 10, "").status().message(), HasSubstr("a directory"));
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever in open() or read() if it were opened: the check comes first.
  absl::StatusOr<std::string> read = ReadFileCapped(fifo, 10, "model config");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("is a FIFO, not a regular file"));
  EXPECT_THAT(CheckRegularFile("/dev/zero", "tokenizer").message(),
              HasSubstr("tokenizer /dev/zero is a character device"));
  // A symlink to a device is the device.
  std::filesystem::create_symlink("/dev/zero", dir_ / "golden.json");
  EXPECT_FALSE(ReadFileCapped((dir_ / "golden.json").string(), kMiB, "").ok());
}

TEST_F(FilesTest, ReadsProcfsFilesThatReportSizeZeroAndStillCapsThem) {
  absl::StatusOr<std::string> status = ReadFileCapped("/proc/self/status", kMiB, "");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(*status, HasSubstr("Pid:"));
  EXPECT_FALSE(ReadFileCapped("/proc/self/status", 16, "").ok());
}

TEST(HumanBytes, PicksAUnit) {
  EXPECT_EQ(HumanBytes(900), "900 bytes");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(kMiB), "1.0 MiB");
  EXPECT_EQ(HumanBytes(64 * kMiB), "64.0 MiB");
  EXPECT_EQ(HumanBytes(uint64_t{256} << 20), "256.0 MiB");
  EXPECT_EQ(HumanBytes(uint64_t{20} << 30), "20.0 GiB");
}

}  // namespace
}  // namespace eaos::common
