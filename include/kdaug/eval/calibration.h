// Calibration: expected calibration error over equal-width confidence bins, reliability-diagram
// data, NLL, and temperature scaling (Guo et al. 2017) fitted on validation logits.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

// One confidence bin (lower, upper]; the first bin also holds confidence 0.
struct ReliabilityBin {
  double lower = 0, upper = 0;
  int64_t count = 0;
  double confidence = 0;  // mean max-probability of the samples in the bin (NaN when empty)
  double accuracy = 0;    // fraction of them predicted correctly (NaN when empty)
};

// WHAT THIS REPRESENTS: calibration of softmax(logits / temperature) on n samples.
//   ece = sum_b count_b / n * |accuracy_b - confidence_b|
struct CalibrationStats {
  double temperature = 1;
  double ece = 0, nll = 0, accuracy = 0;
  int64_t n = 0;
  std::vector<ReliabilityBin> bins;
};

// Statistics of logits (float [N,K], any device) against labels (int64 [N] in [0,K)), after
// dividing the logits by `temperature` (> 0). Throws kdaug::Error for bins < 1, a bad
// temperature or mismatched shapes.
CalibrationStats calibration_stats(const at::Tensor& logits, const at::Tensor& labels, int64_t bins = 15,
                                   double temperature = 1.0);

// The temperature T in [0.05, 20] minimising the NLL of softmax(logits / T): a golden-section
// search on log T (the NLL is convex in 1/T, hence unimodal in log T), in double precision.
// Returns 1 when no T in the range does better than T = 1, so scaling never raises the NLL on
// the fitting data.
double fit_temperature(const at::Tensor& logits, const at::Tensor& labels);

struct CalibrationOptions {
  int64_t bins = 15;
  int64_t batch_size = 500;
  int64_t limit = 0;  // first N test images (0 = all)
  std::ostream* progress = nullptr;
};

// WHAT THIS REPRESENTS: calibration on the test set before and after temperature scaling.
// `fitted` is false (and after == before) when no validation set was given.
struct CalibrationReport {
  CalibrationStats before, after;
  bool fitted = false;
  int64_t fit_n = 0;  // validation samples the temperature was fitted on
};

// Fits T on `val` (when not null) and reports test calibration at T = 1 and at the fitted T.
CalibrationReport evaluate_calibration(models::ClassifierImpl& model, const data::Dataset& test,
                                       const data::Dataset* val, const CalibrationOptions& opts);

// {"temperature", "ece", "nll", "accuracy", "n", "bins": [{"lower","upper","count","confidence","accuracy"}]}
nlohmann::json to_json(const CalibrationStats& stats);
// {"fitted", "fit_n", "temperature", "before": {...}, "after": {...}}
nlohmann::json to_json(const CalibrationReport& report);

}  // namespace kdaug::eval
