// The frozen teacher of a distillation run.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

#include "kdaug/distill/objective.h"
#include "kdaug/models/model.h"

namespace kdaug::distill {

// WHAT THIS REPRESENTS: a classifier used only to produce targets. It is put in eval mode
// (BatchNorm uses running statistics, dropout off) and every parameter gets
// requires_grad(false); each call runs under torch::NoGradGuard. NoGradGuard rather than
// c10::InferenceMode, because the outputs become loss targets that autograd saves for the
// student's backward pass, which inference tensors may not be.
// Student and teacher may be different architectures; only num_classes must agree (checked by
// the distances when shapes meet).
class Teacher {
 public:
  explicit Teacher(models::Classifier model);
  // Loads a kdaug checkpoint (models::load_model) onto `device`. Throws kdaug::Error naming the
  // path when it is missing or not a kdaug model checkpoint.
  static Teacher load(const std::string& checkpoint, c10::Device device);

  // x: float [B, C, H, W] in [0, 1] on the teacher's device -> logits [B, K], no grad.
  at::Tensor operator()(const at::Tensor& x) const;
  // The same with feature taps (for hint / attention terms), all without grad.
  models::Features features(const at::Tensor& x) const;

  // Adapters for Objective::compute (they share this teacher's model).
  TeacherFn fn() const;
  FeatureTeacherFn feature_fn() const;

  const models::Classifier& model() const { return model_; }
  const models::ModelSpec& spec() const { return model_->spec(); }

 private:
  void freeze() const;
  models::Classifier model_;
};

}  // namespace kdaug::distill
