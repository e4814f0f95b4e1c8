// Shared by the C++ benchmarks: median timing of repeated calls and the command line as run.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "kdaug/core/error.h"

namespace kdaug::bench {

struct Timing {
  double seconds = 0;  // median seconds per call
  int calls = 0;       // timed calls
};

// The median of `v` (the upper middle element for an even count); v must not be empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

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
  return {median(t), static_cast<int>(t.size())};
}

// `--name value` options bound to variables (which keep their defaults when the option is
// absent). An unknown option, a missing value or one that does not parse as the variable's type
// is a kdaug::Error naming the option and the value.
class Options {
 public:
  template <typename T>
  Options& add(const std::string& name, T* target) {
    bindings_.emplace_back(name, target);
    return *this;
  }
  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto it = std::find_if(bindings_.begin(), bindings_.end(), [&](const auto& b) { return b.first == a; });
      if (it == bindings_.end()) KDAUG_FAIL("unknown option '", a, "' (known: ", known(), ")");
      KDAUG_CHECK(i + 1 < argc, "option ", a, " needs a value");
      const std::string v = argv[++i];
      std::visit([&](auto* target) { set(a, v, target); }, it->second);
    }
  }

 private:
  using Target = std::variant<int*, int64_t*, double*, std::string*>;
  static void set(const std::string& name, const std::string& v, std::string* t) { *t = v; }
  template <typename T>
  static void set(const std::string& name, const std::string& v, T* t) {
    size_t used = 0;
    try {
      if constexpr (std::is_same_v<T, double>) {
        *t = std::stod(v, &used);
      } else {
        *t = static_cast<T>(std::stoll(v, &used));
      }
    } catch (const std::exception&) {
      used = 0;
    }
    KDAUG_CHECK(used == v.size() && !v.empty(), "option ", name, ": expected a ",
                std::is_same_v<T, double> ? "number" : "whole number", ", got '", v, "'");
  }
  std::string known() const {
    std::string k;
    for (const auto& b : bindings_) k += (k.empty() ? "" : ", ") + b.first;
    return k;
  }
  std::vector<std::pair<std::string, Target>> bindings_;
};

inline std::string command_line(int argc, char** argv) {
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  return cmd;
}

}  // namespace kdaug::bench
