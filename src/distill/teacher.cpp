#include "kdaug/distill/teacher.h"

#include <torch/csrc/autograd/grad_mode.h>

#include "kdaug/core/error.h"

namespace kdaug::distill {

Teacher::Teacher(models::Classifier model) : model_(std::move(model)) {
  KDAUG_CHECK(model_ != nullptr, "teacher: no model given");
  freeze();
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
  return model_->forward(x);
}

models::Features Teacher::features(const at::Tensor& x) const {
  freeze();
  torch::NoGradGuard no_grad;
  return model_->forward_features(x);
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
