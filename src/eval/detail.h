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

// Images per forward pass on the CPU. A resnet8 on 28x28 images runs at ~3,800 images/s with
// one thread for any batch of 8..96, but at ~1,770 at 500 and ~960 at 1000: once the
// activations of a batch are several MB, every layer's fresh output buffer is page-faulted in
// anew (the run's system time goes from ~0 to a third of the total). GPUs want large batches,
// so other devices take the whole batch at once.
constexpr int64_t kCpuForwardBatch = 64;

// The model's logits for x [B,C,H,W] (on the model's device), computed kCpuForwardBatch images
// at a time on the CPU (whole on other devices) and concatenated: [B,K]. Inference only (the
// caller holds an InferenceMode or NoGradGuard; the model is in eval mode).
at::Tensor forward_in_chunks(models::ClassifierImpl& model, const at::Tensor& x);

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
