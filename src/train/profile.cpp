#include "kdaug/train/profile.h"

#include <torch/cuda.h>

#include <cstdio>

namespace kdaug::train {

void Profiler::add(const std::string& phase, double seconds, bool background) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& p = phases_[phase];
  p.seconds += seconds;
  p.calls += 1;
  p.background = background;
}

void Profiler::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  phases_.clear();
  steps_ = 0;
}

std::map<std::string, Profiler::Phase> Profiler::phases() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phases_;
}

void Profiler::sync() const {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

std::string Profiler::table() const {
  const auto ph = phases();
  double fg = 0;
  for (const auto& [name, p] : ph) {
    if (!p.background) fg += p.seconds;
  }
  const double steps = static_cast<double>(std::max<int64_t>(steps_, 1));
  std::string out = "| phase | total s | ms / step | share of step |\n| --- | ---: | ---: | ---: |\n";
  char buf[200];
  for (const auto& [name, p] : ph) {
    if (p.background) {
      std::snprintf(buf, sizeof(buf), "| %s (background thread, overlapped) | %.2f | %.2f | - |\n", name.c_str(),
                    p.seconds, 1e3 * p.seconds / steps);
    } else {
      std::snprintf(buf, sizeof(buf), "| %s | %.2f | %.2f | %.1f%% |\n", name.c_str(), p.seconds,
                    1e3 * p.seconds / steps, fg > 0 ? 100.0 * p.seconds / fg : 0.0);
    }
    out += buf;
  }
  std::snprintf(buf, sizeof(buf), "| step (sum of the above, %lld steps) | %.2f | %.2f | 100%% |\n",
                static_cast<long long>(steps_), fg, 1e3 * fg / steps);
  out += buf;
  return out;
}

nlohmann::json Profiler::to_json() const {
  nlohmann::json j = {{"steps", steps_}, {"phases", nlohmann::json::object()}};
  for (const auto& [name, p] : phases()) {
    j["phases"][name] = {{"seconds", p.seconds}, {"calls", p.calls}, {"background", p.background},
                         {"ms_per_step", 1e3 * p.seconds / static_cast<double>(std::max<int64_t>(steps_, 1))}};
  }
  return j;
}

}  // namespace kdaug::train
