// Progress reporting for long work: a live line with rate and ETA on a terminal, plain
// periodic lines otherwise (logs, CI). The caller says which (apps/ checks isatty).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace kdaug {

struct ProgressOptions {
  bool interactive = false;       // redraw one line with '\r' (a terminal) or print plain lines
  double plain_interval_s = 10.;  // in plain mode, at most one line per this many seconds
  std::string unit = "img";       // what `done` counts, for the rate ("img/s")
};

// WHAT THIS REPRESENTS: progress of `total` units of work under a label. update() is cheap and
// may be called every step; it prints only when the line is due.
class Progress {
 public:
  Progress(std::ostream& out, std::string label, int64_t total, ProgressOptions opts = {});
  // `done` units so far (monotone), `extra` text such as "loss 0.4123".
  void update(int64_t done, const std::string& extra = "");
  // Prints the final line (always), with the elapsed time.
  void finish(const std::string& extra = "");
  double elapsed_s() const;

 private:
  std::string line(int64_t done, const std::string& extra) const;
  std::ostream& out_;
  std::string label_;
  int64_t total_;
  ProgressOptions opts_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t done_ = 0;
  bool printed_ = false;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace kdaug
