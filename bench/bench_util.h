// Shared by the C++ benchmarks: median timing of repeated calls and the command line as run.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace kdaug::bench {

struct Timing {
  double seconds = 0;  // median seconds per call
  int calls = 0;       // timed calls
};

// Calls f `warmup` times untimed (allocations, kernel selection), then times calls until they
// last at least min_time seconds in all and number at least 5; `sync` (e.g. a CUDA
// synchronisation) runs inside each timed interval.
inline Timing time_median(const std::function<void()>& f, double min_time, int warmup = 1,
                          const std::function<void()>& sync = nullptr) {
  for (int i = 0; i < warmup; ++i) f();
  if (sync) sync();
  std::vector<double> t;
  double total = 0;
  while (total < min_time || t.size() < 5) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    if (sync) sync();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.push_back(s);
    total += s;
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], static_cast<int>(t.size())};
}

inline std::string command_line(int argc, char** argv) {
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  return cmd;
}

}  // namespace kdaug::bench
