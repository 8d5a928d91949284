// What the fuzz targets share: the input as a file the path-based readers can open, and the rule
// that a reader may refuse an input only with a c10::Error. Anything else escaping (another
// exception type, a crash, a sanitizer report, a hang past -timeout) is a finding.
#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace byol_fuzz {

// An in-memory regular file (memfd), reused for every input; readers open it by the path
// /proc/self/fd/N as they would a file on disk.
class InputFile {
 public:
  InputFile() : fd_(::memfd_create("byol-fuzz-input", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  // Replaces the file's content with `size` bytes; returns its path.
  const std::string& hold(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t put = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (put <= 0) std::abort();
      done += static_cast<size_t>(put);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// Runs `read`; a c10::Error is an accepted refusal, anything else propagates to libFuzzer.
template <typename F>
void expect_result_or_c10_error(F&& read) {
  try {
    read();
  } catch (const c10::Error&) {
  }
}

}  // namespace byol_fuzz
