// Basic classification metrics: accuracy, negative log-likelihood, per-class accuracy and the
// confusion matrix of a classifier on a labelled set, computed in batches without gradients.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

// How a dataset is pushed through a model.
struct EvalOptions {
  int64_t batch_size = 500;           // images read at once (> 0); on the CPU the model takes 64 at a time
  int64_t limit = 0;                  // evaluate only the first N samples (0 = all)
  std::ostream* progress = nullptr;   // progress lines go here (nullptr = silent)
  bool interactive = false;           // redraw one line ('\r') instead of plain periodic lines
};

// WHAT THIS REPRESENTS: how well predictions match labels on n samples.
//   accuracy: fraction of argmax predictions equal to the label, in [0,1]
//   nll: mean cross-entropy (natural log) of the labels under softmax(logits)
//   per_class_accuracy: K entries, recall of each true class (NaN for a class with no samples)
//   confusion: int64 [K,K] on CPU, confusion[t][p] = samples of true class t predicted as p
struct ClassificationReport {
  double accuracy = 0, nll = 0;
  std::vector<double> per_class_accuracy;
  at::Tensor confusion;
  int64_t n = 0;
};

// The model's logits for every image.
//   images: uint8 [N,C,H,W] (0..255, scaled by 1/255) or floating [N,C,H,W] in [0,1], any device
//   returns float32 [N,K] on CPU.
// Runs under InferenceMode with model.eval() (the previous train/eval mode is restored) on the
// device of the model's parameters.
at::Tensor predict_logits(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size = 500,
                          std::ostream* progress = nullptr);

// Metrics from logits (float [N,K], any device) and labels (int64 [N], each in [0,K)).
// Throws kdaug::Error on mismatched sizes or a label outside [0, num_classes).
ClassificationReport report_from_logits(const at::Tensor& logits, const at::Tensor& labels, int64_t num_classes);

// Evaluates `model` on `dataset` (uint8 images, int64 labels).
ClassificationReport evaluate(models::ClassifierImpl& model, const data::Dataset& dataset,
                              const EvalOptions& opts = {});

// {"accuracy", "nll", "n", "per_class_accuracy": [...], "confusion": [[...], ...]}; NaN -> null.
nlohmann::json to_json(const ClassificationReport& report);

// A Markdown summary (accuracy, NLL) followed by a per-class table with the confusion matrix.
// `class_names` may be empty or shorter than K (missing names print as the class index).
std::string to_markdown(const ClassificationReport& report, const std::vector<std::string>& class_names = {});

}  // namespace kdaug::eval
