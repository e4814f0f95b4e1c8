// Helpers shared by the eval sources (private to src/eval).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "kdaug/core/progress.h"
#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval::detail {

// The device of the model's first parameter (or buffer); CPU for a model with neither.
c10::Device model_device(models::ClassifierImpl& model);

// Puts the model in eval mode for its lifetime and restores the previous mode afterwards.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(models::ClassifierImpl& model);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  models::ClassifierImpl& model_;
  bool was_training_;
};

// uint8 [.., C,H,W] -> float32 /255, floating -> float32, on `device`.
at::Tensor to_float01(const at::Tensor& images, c10::Device device);

// Checks a dataset's tensors (uint8 [N,C,H,W] images, int64 [N] labels) and returns the
// number of samples to use (`limit` > 0 keeps the first `limit`).
int64_t checked_count(const data::Dataset& dataset, int64_t limit, const char* what);

// Throws kdaug::Error unless batch_size > 0.
void check_batch_size(int64_t batch_size, const char* what);

// A Progress when `out` is not null.
std::unique_ptr<Progress> make_progress(std::ostream* out, const std::string& label, int64_t total,
                                        bool interactive = false);

// Top-1 correct count of logits [B,K] against labels [B] (same device).
int64_t count_correct(const at::Tensor& logits, const at::Tensor& labels);

// "%.4f"-style formatting with NaN as "-".
std::string fmt(double v, int digits = 4);

}  // namespace kdaug::eval::detail
