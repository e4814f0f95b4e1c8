// A seeded corruption suite in the style of MNIST-C / Fashion-MNIST-C (Mu & Gilmer 2019) and
// ImageNet-C (Hendrycks & Dietterich 2019): 21 corruptions x 5 severities, applied as batched
// tensor ops to float images in [0,1] with 1 or 3 channels and any size, plus the accuracy,
// mean corruption accuracy and mCE reports built on it. The parameter of every severity is
// tabled in docs/eval.md.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

// The corruption names, in the suite's order (noise, blur, geometric, photometric, artefacts).
std::vector<std::string> corruption_names();

// Corrupts a batch.
//   images: float [N,C,H,W] (or one image [C,H,W]) with values in [0,1], C = 1 or 3, any device
//   name: one of corruption_names(); severity: 1..5
//   returns a tensor of the same shape, dtype and device, values in [0,1].
// Deterministic in (images, name, severity, seed). The random draws depend on the seed and the
// name but not on the severity, so severities of one seed are nested (same noise pattern,
// same stripe position, ...), only stronger. Random numbers are drawn on the CPU and moved to
// the images' device. Throws kdaug::Error for an unknown name (listing the known ones), a
// severity outside 1..5, or images of the wrong rank, channel count or dtype.
at::Tensor corrupt(const at::Tensor& images, const std::string& name, int severity, uint64_t seed);

// The same images at several severities: element i is corrupt(images, name, severities[i], seed),
// bit for bit, but the random draws (and what is computed from them alone, such as the smoothed
// displacement field of `elastic`) are made once for all severities. Same errors as corrupt().
std::vector<at::Tensor> corrupt_severities(const at::Tensor& images, const std::string& name,
                                           const std::vector<int>& severities, uint64_t seed);

struct CorruptionOptions {
  std::vector<std::string> names;         // corruptions to run (empty = all)
  std::vector<int> severities{1, 2, 3, 4, 5};
  uint64_t seed = 0;                      // the suite's seed (chunk i uses derive_seed(seed, "corrupt", i))
  int64_t batch_size = 500;               // images corrupted at once (> 0); decides the images.
                                          // The forward passes take 64 at a time on the CPU.
  int64_t limit = 0;                      // use only the first N test images (0 = all)
  std::ostream* progress = nullptr;       // nullptr = silent
  bool interactive = false;
};

// Accuracy under one corruption.
struct CorruptionResult {
  std::string name;
  std::vector<double> accuracy;  // one per CorruptionOptions::severities, in that order
  double mean_accuracy = 0;      // mean over the severities
};

// WHAT THIS REPRESENTS: one model's accuracy on the corrupted test set.
struct CorruptionReport {
  std::vector<int> severities;
  std::vector<CorruptionResult> results;  // in the order of the requested names
  double clean_accuracy = 0;              // on the same n images, uncorrupted
  double mean_accuracy = 0;               // mean over corruptions of mean_accuracy
  int64_t n = 0;                          // images per (corruption, severity)
  uint64_t seed = 0;
};

// Evaluates several models on the same corrupted images (each corrupted batch is generated once
// and shared, which halves the cost of comparing a model with its mCE baseline). Null entries
// are not allowed. Throws kdaug::Error for bad names/severities/options.
std::vector<CorruptionReport> evaluate_corruptions(const std::vector<models::ClassifierImpl*>& models,
                                                   const data::Dataset& test, const CorruptionOptions& opts);
CorruptionReport evaluate_corruptions(models::ClassifierImpl& model, const data::Dataset& test,
                                      const CorruptionOptions& opts);

// Corruption errors relative to a baseline (Hendrycks & Dietterich 2019):
//   CE_c = sum_s err_s(model, c) / sum_s err_s(baseline, c),  mCE = mean_c CE_c.
// Both reports must cover the same corruptions and severities (kdaug::Error otherwise). A
// corruption on which the baseline makes no error at all gives CE = NaN and is left out of mCE.
struct McEReport {
  std::map<std::string, double> ce;
  double mce = 0;
};
McEReport mean_corruption_error(const CorruptionReport& model, const CorruptionReport& baseline);

// JSON: {"n", "seed", "severities", "clean_accuracy", "mean_accuracy",
//        "corruptions": {name: {"accuracy": [...], "mean_accuracy"}}}
nlohmann::json to_json(const CorruptionReport& report);

// The preview grid: one row per corruption (corruption_names() order), the clean image in
// column 0 followed by severities 1..5, cells separated by a 1-pixel mid-grey gap (also around
// the border), then enlarged `scale` times (nearest neighbour).
//   image: float [C,H,W] in [0,1] or uint8 [C,H,W], C = 1 or 3, any device.
//   returns uint8 [C, scale*(21*(H+1)+1), scale*(6*(W+1)+1)] on the CPU; the cell of
//   corruption r at severity s is corrupt(image, name_r, s, seed), rounded to uint8.
// Throws kdaug::Error for a bad image or a scale outside 1..16.
at::Tensor corruptions_preview_grid(const at::Tensor& image, uint64_t seed, int64_t scale = 1);

// Writes corruptions_preview_grid(image, seed, scale) as a PNG (atomically, augment::write_png).
void write_corruptions_preview(const std::string& png, const at::Tensor& image, uint64_t seed, int64_t scale = 2);

}  // namespace kdaug::eval
