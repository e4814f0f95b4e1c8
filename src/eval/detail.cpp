#include "detail.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "kdaug/core/error.h"

namespace kdaug::eval::detail {

c10::Device model_device(models::ClassifierImpl& model) {
  for (const auto& p : model.parameters()) return p.device();
  for (const auto& b : model.buffers()) return b.device();
  return c10::Device(c10::kCPU);
}

EvalModeGuard::EvalModeGuard(models::ClassifierImpl& model) : model_(model), was_training_(model.is_training()) {
  model_.eval();
}

EvalModeGuard::~EvalModeGuard() {
  if (was_training_) model_.train(true);
}

at::Tensor to_float01(const at::Tensor& images, c10::Device device) {
  if (images.scalar_type() == at::kByte) {
    return images.to(device).to(at::kFloat).div_(255.0);
  }
  TORCH_CHECK(at::isFloatingType(images.scalar_type()), "images must be uint8 or floating, got ",
              images.scalar_type());
  return images.to(device, at::kFloat);
}

at::Tensor forward_in_chunks(models::ClassifierImpl& model, const at::Tensor& x) {
  const int64_t n = x.size(0);
  if (!x.device().is_cpu() || n <= kCpuForwardBatch) return model.forward(x);
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>((n + kCpuForwardBatch - 1) / kCpuForwardBatch));
  for (int64_t i = 0; i < n; i += kCpuForwardBatch) {
    out.push_back(model.forward(x.narrow(0, i, std::min(kCpuForwardBatch, n - i))));
  }
  return at::cat(out, 0);
}

int64_t checked_count(const data::Dataset& dataset, int64_t limit, const char* what) {
  KDAUG_CHECK(dataset.images.defined() && dataset.labels.defined(), what, ": dataset '", dataset.name,
              "' has no images or labels");
  KDAUG_CHECK(dataset.images.dim() == 4, what, ": dataset '", dataset.name, "' images must be [N,C,H,W], got ",
              dataset.images.sizes());
  KDAUG_CHECK(dataset.labels.dim() == 1 && dataset.labels.size(0) == dataset.images.size(0), what,
              ": dataset '", dataset.name, "' has ", dataset.images.size(0), " images but labels of shape ",
              dataset.labels.sizes());
  KDAUG_CHECK(dataset.size() > 0, what, ": dataset '", dataset.name, "' is empty");
  KDAUG_CHECK(limit >= 0, what, ": limit must be >= 0, got ", limit);
  return limit > 0 ? std::min(limit, dataset.size()) : dataset.size();
}

void check_batch_size(int64_t batch_size, const char* what) {
  KDAUG_CHECK(batch_size > 0, what, ": batch_size must be > 0, got ", batch_size);
}

std::unique_ptr<Progress> make_progress(std::ostream* out, const std::string& label, int64_t total,
                                        bool interactive) {
  if (out == nullptr) return nullptr;
  ProgressOptions o;
  o.interactive = interactive;
  return std::make_unique<Progress>(*out, label, total, o);
}

int64_t count_correct(const at::Tensor& logits, const at::Tensor& labels) {
  return logits.argmax(1).eq(labels).sum().item<int64_t>();
}

std::string fmt(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace kdaug::eval::detail
