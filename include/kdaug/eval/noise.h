// Accuracy under additive Gaussian noise of increasing strength (pixel units, clamped).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

struct NoiseSweepOptions {
  std::vector<double> sigmas{0, 0.05, 0.1, 0.2, 0.3};  // std of the noise on [0,1] images (>= 0)
  uint64_t seed = 0;        // batch i uses derive_seed(seed, "noise", i); the same noise pattern
                            // (scaled) at every sigma
  int64_t batch_size = 500;  // images noised at once (decides the draws); the CPU forward takes 64 at a time
  int64_t limit = 0;        // first N test images (0 = all)
  std::ostream* progress = nullptr;
  bool interactive = false;
};

struct NoisePoint {
  double sigma = 0, accuracy = 0, nll = 0;
};

// WHAT THIS REPRESENTS: accuracy and NLL on clamp(x + sigma * z, 0, 1), z ~ N(0,1) per value.
struct NoiseSweepReport {
  std::vector<NoisePoint> points;  // in the order of the sigmas
  int64_t n = 0;
  uint64_t seed = 0;
};

NoiseSweepReport noise_sweep(models::ClassifierImpl& model, const data::Dataset& test, const NoiseSweepOptions& opts);

// {"n", "seed", "points": [{"sigma","accuracy","nll"}]}
nlohmann::json to_json(const NoiseSweepReport& report);

}  // namespace kdaug::eval
