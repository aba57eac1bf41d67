#include "server/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace eaos::common {
namespace {

std::string Name(absl::string_view what, const std::string& path) {
  return absl::StrCat(what.empty() ? "file" : what, " ", path);
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

absl::Status KindError(absl::string_view what, const std::string& path, mode_t mode) {
  return absl::FailedPreconditionError(
      absl::StrCat(Name(what, path), " is ", KindOf(mode), ", not a regular file"));
}

absl::Status ErrnoError(absl::string_view what, const std::string& path, absl::string_view op,
                        int error) {
  const std::string message = absl::StrCat("cannot ", op, " ", Name(what, path), ": ",
                                           std::strerror(error));
  if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
  return absl::FailedPreconditionError(message);
}

absl::Status TooBig(absl::string_view what, const std::string& path, uint64_t max_bytes) {
  return absl::FailedPreconditionError(absl::StrCat(
      Name(what, path), " is larger than the ", HumanBytes(max_bytes), " allowed for it"));
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  if (bytes < kMiB) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  if (bytes < 1024 * kMiB) return absl::StrFormat("%.1f MiB", bytes / double(kMiB));
  return absl::StrFormat("%.1f GiB", bytes / double(1024 * kMiB));
}

absl::Status CheckRegularFile(const std::string& path, absl::string_view what,
                              uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError(what, path, "read", errno);
  if (!S_ISREG(st.st_mode)) return KindError(what, path, st.st_mode);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return TooBig(what, path, max_bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileCapped(const std::string& path, uint64_t max_bytes,
                                           absl::string_view what) {
  if (absl::Status s = CheckRegularFile(path, what); !s.ok()) return s;
  // O_NONBLOCK: should the path be swapped for a FIFO after the check, open() must not wait for a
  // writer; fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError(what, path, "open", errno);
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(what, path, "read", errno);
  if (!S_ISREG(st.st_mode)) return KindError(what, path, st.st_mode);
  const auto too_big = [&] { return TooBig(what, path, max_bytes); };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_big();
  std::string content;
  // st_size is a hint (procfs reports 0); the loop stops at EOF or one byte past the cap.
  content.resize(static_cast<size_t>(st.st_size) + 1);
  size_t used = 0;
  for (;;) {
    if (used == content.size()) {
      if (used > max_bytes) return too_big();
      content.resize(std::min<uint64_t>(std::max<size_t>(2 * used, 4096), max_bytes + 1));
    }
    const ssize_t n = ::read(fd, content.data() + used, content.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(what, path, "read", errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > max_bytes) return too_big();
  content.resize(used);
  return content;
}

}  // namespace eaos::common
