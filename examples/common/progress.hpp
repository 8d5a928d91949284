// A one-line progress bar for long loops: fraction done, a caller's status text, items per second
// and the time left. On a terminal it redraws in place; in a log it prints a line every few
// seconds, so CI logs stay readable.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace byol_examples {

inline std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buffer;
}

class ProgressBar {
 public:
  /// @param total  units of work (steps); @param done  units already done (a resumed run);
  /// @param show  false draws nothing (the ranks of a data-parallel run other than rank 0)
  ProgressBar(int64_t total, int64_t done = 0, bool show = true)
      : total_(std::max<int64_t>(total, 1)), start_done_(done), start_(Clock::now()), last_print_(start_),
        tty_(::isatty(STDERR_FILENO) != 0), show_(show) {}

  /// Shows `done` of `total` with `status` (e.g. "loss 1.234"); `items` is what one unit holds
  /// (images per step) for the rate.
  void update(int64_t done, const std::string& status, double items_per_unit) {
    if (!show_) return;
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const bool last = done >= total_;
    if (!tty_ && !last && std::chrono::duration<double>(now - last_print_).count() < 10.0) return;
    last_print_ = now;
    const int64_t run = done - start_done_;
    const double rate = run > 0 && elapsed > 0 ? static_cast<double>(run) / elapsed : 0.0;
    const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : -1.0;
    constexpr int kWidth = 28;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(done, total_) / total_);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
    std::fprintf(stderr, "%s[%s] %3d%% %lld/%lld  %s  %.0f img/s  elapsed %s  left %s%s", tty_ ? "\r" : "",
                 bar.c_str(), static_cast<int>(100 * std::min<int64_t>(done, total_) / total_),
                 static_cast<long long>(done), static_cast<long long>(total_), status.c_str(),
                 rate * items_per_unit, format_duration(elapsed).c_str(), format_duration(left).c_str(),
                 tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
  }

  /// Ends the line on a terminal.
  void finish() {
    if (show_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_, start_done_;
  Clock::time_point start_, last_print_;
  bool tty_;
  bool show_;
};

}  // namespace byol_examples
