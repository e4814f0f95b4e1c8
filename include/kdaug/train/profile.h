// Where a training step's time goes: named phases (data wait, augmentation, teacher, student
// forward, backward, optimiser) accumulated across steps and threads, printed as a table.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <c10/core/Device.h>

namespace kdaug::train {

// Thread-safe: the loader's background thread adds the augmentation phase while the training
// thread adds the rest. Phases that run on the background thread overlap with training; the
// table marks them so and leaves them out of the per-step total.
class Profiler {
 public:
  // `device`: on CUDA each timed phase ends with a synchronisation, so that a phase is charged
  // for its own kernels rather than the next one's (this slows training a little: profile only).
  explicit Profiler(c10::Device device = c10::Device(c10::kCPU)) : device_(device) {}

  void add(const std::string& phase, double seconds, bool background = false);
  void count_step() { ++steps_; }
  void reset();

  // phase -> {seconds, calls, background}
  struct Phase {
    double seconds = 0;
    int64_t calls = 0;
    bool background = false;
  };
  std::map<std::string, Phase> phases() const;
  int64_t steps() const { return steps_; }

  // Markdown: phase | total s | ms per step | share of the step (foreground phases only).
  std::string table() const;
  nlohmann::json to_json() const;

  void sync() const;  // waits for the device (no-op on CPU)

 private:
  c10::Device device_;
  mutable std::mutex mu_;
  std::map<std::string, Phase> phases_;
  int64_t steps_ = 0;
};

// Times a scope into `p` (nothing when p is null).
class PhaseTimer {
 public:
  PhaseTimer(Profiler* p, std::string phase, bool background = false)
      : p_(p), phase_(std::move(phase)), background_(background), t0_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() {
    if (p_ == nullptr) return;
    p_->sync();
    p_->add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(), background_);
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  Profiler* p_;
  std::string phase_;
  bool background_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace kdaug::train
