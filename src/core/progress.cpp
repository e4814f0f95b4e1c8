#include "kdaug/core/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace kdaug {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
  }
  return buf;
}

Progress::Progress(std::ostream& out, std::string label, int64_t total, ProgressOptions opts)
    : out_(out), label_(std::move(label)), total_(total), opts_(std::move(opts)),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(int64_t done, const std::string& extra) const {
  const double el = elapsed_s();
  const double rate = el > 0 ? static_cast<double>(done) / el : 0.0;
  const double eta = rate > 0 && total_ > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  char buf[160];
  const double pct = total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 0.0;
  std::snprintf(buf, sizeof(buf), "%s %lld/%lld (%3.0f%%) %.0f %s/s", label_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), pct, rate, opts_.unit.c_str());
  std::string s = buf;
  if (!extra.empty()) s += " " + extra;
  s += done < total_ ? " ETA " + format_duration(eta) : " in " + format_duration(el);
  return s;
}

void Progress::update(int64_t done, const std::string& extra) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  const double due = opts_.interactive ? 0.2 : opts_.plain_interval_s;
  if (since < due) return;
  last_print_ = now;
  if (opts_.interactive) {
    out_ << '\r' << line(done, extra) << "\x1b[K" << std::flush;
  } else {
    out_ << line(done, extra) << '\n' << std::flush;
  }
  printed_ = true;
}

void Progress::finish(const std::string& extra) {
  if (opts_.interactive) out_ << '\r';
  out_ << line(total_ > 0 ? total_ : done_, extra) << (opts_.interactive ? "\x1b[K\n" : "\n") << std::flush;
}

}  // namespace kdaug
