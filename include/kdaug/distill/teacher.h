// The frozen teacher of a distillation run.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

#include "kdaug/distill/objective.h"
#include "kdaug/models/model.h"

namespace kdaug::distill {

// How the frozen teacher computes. bf16: its convolutions and matrix products run in bfloat16
// under autocast (a resnet56 forward: 5.0x the fp32 teacher on a Xeon with AMX, 2.9x on an EPYC with
// AVX-512-BF16 only; docs/benchmarks.md), its logits are returned as fp32. channels_last: NHWC weights and inputs (what oneDNN's fast kernels want).
// How far a reduced-precision teacher is from the fp32 one is measured by kdaug run
// (summary.json: teacher_precision_agreement).
// fold_bn: each BatchNorm that follows a convolution is folded into it once, at construction
// (ClassifierImpl::fold_batch_norm), so a teacher forward skips every BatchNorm pass; its
// outputs equal the unfolded teacher's up to float rounding (tests/distill/test_teacher.cpp).
// Folding changes the model object the teacher was given: it must not be trained afterwards.
struct TeacherOptions {
  std::string precision = "fp32";  // fp32 | bf16
  bool channels_last = false;
  bool fold_bn = true;
};

// WHAT THIS REPRESENTS: a classifier used only to produce targets. It is put in eval mode
// (BatchNorm uses running statistics, dropout off) and every parameter gets
// requires_grad(false); each call runs under torch::NoGradGuard. NoGradGuard rather than
// c10::InferenceMode, because the outputs become loss targets that autograd saves for the
// student's backward pass, which inference tensors may not be.
// Student and teacher may be different architectures; only num_classes must agree (checked by
// the distances when shapes meet).
class Teacher {
 public:
  explicit Teacher(models::Classifier model, TeacherOptions options = {});
  // Loads a kdaug checkpoint (models::load_model) onto `device`. Throws kdaug::Error naming the
  // path when it is missing or not a kdaug model checkpoint, or when options are invalid.
  static Teacher load(const std::string& checkpoint, c10::Device device, TeacherOptions options = {});

  // x: float [B, C, H, W] in [0, 1] on the teacher's device -> logits [B, K], no grad.
  at::Tensor operator()(const at::Tensor& x) const;
  // The same with feature taps (for hint / attention terms), all without grad.
  models::Features features(const at::Tensor& x) const;

  // Adapters for Objective::compute (they share this teacher's model).
  TeacherFn fn() const;
  FeatureTeacherFn feature_fn() const;

  const models::Classifier& model() const { return model_; }
  const models::ModelSpec& spec() const { return model_->spec(); }
  const TeacherOptions& options() const { return options_; }
  // Conv-BatchNorm pairs folded at construction (0 when fold_bn is off or none fold).
  int64_t folded_batch_norms() const { return folded_; }
  // Everything besides the weights that changes this teacher's outputs' rounding, e.g.
  // "precision=bf16 channels_last=1 fold_bn=1 logits=fp32" (a bf16 teacher's classifier head runs
  // in fp32). Part of the soft-label cache's key: a cache labelled otherwise is not reused.
  std::string numerics() const;

 private:
  void freeze() const;
  at::Tensor prepare(const at::Tensor& x) const;
  models::Classifier model_;
  TeacherOptions options_;
  int64_t folded_ = 0;
};

}  // namespace kdaug::distill
