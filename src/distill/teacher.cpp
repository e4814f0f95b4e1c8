#include "kdaug/distill/teacher.h"

#include <torch/csrc/autograd/grad_mode.h>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"
#include "kdaug/models/layout.h"

namespace kdaug::distill {

Teacher::Teacher(models::Classifier model, TeacherOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  KDAUG_CHECK(model_ != nullptr, "teacher: no model given");
  KDAUG_CHECK(options_.precision == "fp32" || options_.precision == "bf16",
              "teacher precision must be fp32 or bf16, got '", options_.precision, "'");
  freeze();
  if (options_.fold_bn) folded_ = model_->fold_batch_norm();
  if (options_.channels_last) models::to_channels_last(*model_);
}

std::string Teacher::numerics() const {
  return "precision=" + options_.precision + " channels_last=" + (options_.channels_last ? "1" : "0") +
         " fold_bn=" + (folded_ > 0 ? "1" : "0") + (options_.precision == "fp32" ? "" : " logits=fp32");
}

at::Tensor Teacher::prepare(const at::Tensor& x) const {
  return options_.channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

void Teacher::freeze() const {
  // Re-applied on every call: a caller that puts "all models" in train mode must not change
  // the teacher's BatchNorm statistics or dropout.
  if (model_->is_training()) model_->eval();
  for (auto& p : model_->parameters()) {
    if (p.requires_grad()) p.set_requires_grad(false);
  }
}

at::Tensor Teacher::operator()(const at::Tensor& x) const {
  freeze();
  torch::NoGradGuard no_grad;
  // The guard also switches autocast off for an fp32 teacher inside a bf16 student step.
  compat::AutocastGuard amp(options_.precision == "bf16", x.device());
  return model_->forward(prepare(x)).to(at::kFloat).contiguous();
}

models::Features Teacher::features(const at::Tensor& x) const {
  freeze();
  torch::NoGradGuard no_grad;
  compat::AutocastGuard amp(options_.precision == "bf16", x.device());
  auto f = model_->forward_features(prepare(x));
  for (auto& t : f.taps) t = t.to(at::kFloat).contiguous();
  f.logits = f.logits.to(at::kFloat).contiguous();
  return f;
}

TeacherFn Teacher::fn() const {
  Teacher self = *this;
  return [self](const at::Tensor& x) { return self(x); };
}

FeatureTeacherFn Teacher::feature_fn() const {
  Teacher self = *this;
  return [self](const at::Tensor& x) { return self.features(x); };
}

}  // namespace kdaug::distill
