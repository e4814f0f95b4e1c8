// Cost of running a model: parameters, multiply-accumulates, checkpoint size and latency.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "kdaug/models/model.h"

namespace kdaug::eval {

struct CostOptions {
  std::string checkpoint;                    // file whose size is reported ("" = not reported)
  std::vector<int64_t> batch_sizes{1, 128};  // latency is measured at each (> 0)
  int warmup = 3;                            // untimed runs before timing (>= 0)
  int repeats = 20;                          // timed runs; the median is reported (>= 1)
  double max_seconds = 10;                   // stop repeating a batch size after this long (> 0)
};

struct LatencyResult {
  int64_t batch_size = 0;
  double median_ms = 0;     // per forward pass of the whole batch
  double per_image_ms = 0;  // median_ms / batch_size
  double images_per_s = 0;
  int runs = 0;             // timed runs actually made (fewer than repeats if max_seconds hit)
};

// WHAT THIS REPRESENTS: the size and speed of one model on the device it sits on.
//   params: trainable parameter elements; macs: multiply-accumulates per image from the model
//   zoo's model_cost(spec) (-1 when the spec is not a zoo model); checkpoint_bytes: -1 when no
//   checkpoint was named; threads: LibTorch intra-op threads during the timing.
struct CostReport {
  int64_t params = 0, macs = -1, checkpoint_bytes = -1;
  int threads = 0;
  std::string device;
  std::vector<LatencyResult> latency;
};

// Times model.forward on zero images of the spec's shape (eval mode, InferenceMode; the model's
// mode is restored). On CUDA every run is synchronised before the clock is read. Throws
// kdaug::Error for bad options or an unreadable checkpoint.
CostReport measure_cost(models::ClassifierImpl& model, const CostOptions& opts = {});

// {"params", "macs", "checkpoint_bytes", "threads", "device", "latency": [{...}]}; -1 -> null.
nlohmann::json to_json(const CostReport& report);

}  // namespace kdaug::eval
