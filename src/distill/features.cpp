#include "kdaug/distill/features.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>

#include <algorithm>
#include <cmath>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"

namespace kdaug::distill {

namespace F = torch::nn::functional;

HintImpl::HintImpl(const HintOptions& options_) : options(options_) { reset(); }

void HintImpl::reset() {
  KDAUG_CHECK(options.student_channels() > 0 && options.teacher_channels() > 0,
              "hint: channel counts must be positive, got student ", options.student_channels(),
              " teacher ", options.teacher_channels());
  adapter = register_module(
      "adapter", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.student_channels(),
                                                            options.teacher_channels(), 1)));
}

at::Tensor HintImpl::forward(const at::Tensor& student, const at::Tensor& teacher) {
  TORCH_CHECK(student.dim() == 4 && student.size(1) == options.student_channels(),
              "hint: student features must be [B, ", options.student_channels(), ", H, W], got ",
              student.sizes());
  TORCH_CHECK(teacher.dim() == 4 && teacher.size(1) == options.teacher_channels() &&
                  teacher.size(0) == student.size(0),
              "hint: teacher features must be [", student.size(0), ", ",
              options.teacher_channels(), ", H, W], got ", teacher.sizes());
  at::Tensor s = adapter->forward(student);
  if (s.size(2) != teacher.size(2) || s.size(3) != teacher.size(3)) {
    s = F::interpolate(s, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{teacher.size(2), teacher.size(3)})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  s = compat::at_least_fp32(s);
  return (s - teacher.detach().to(s.scalar_type())).pow(2).mean();
}

namespace {

// Mean over channels of |f|^p: [B, C, H, W] -> [B, 1, H, W].
at::Tensor energy(const at::Tensor& f, double p) {
  return (p == 2.0 ? f * f : f.abs().pow(p)).mean(1, /*keepdim=*/true);
}

at::Tensor normalise(const at::Tensor& e) {
  return F::normalize(e.flatten(1), F::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
}

}  // namespace

at::Tensor attention_map(const at::Tensor& features, double p) {
  KDAUG_CHECK(std::isfinite(p) && p > 0, "attention transfer: p must be positive, got ", p);
  TORCH_CHECK(features.dim() == 4, "attention_map: features must be [B, C, H, W], got ",
              features.sizes());
  return normalise(energy(features, p));
}

at::Tensor at_loss(const std::vector<at::Tensor>& student_taps,
                   const std::vector<at::Tensor>& teacher_taps, double p) {
  KDAUG_CHECK(std::isfinite(p) && p > 0, "attention transfer: p must be positive, got ", p);
  KDAUG_CHECK(!student_taps.empty() && student_taps.size() == teacher_taps.size(),
              "attention transfer: needs the same number (>= 1) of student and teacher taps, got ",
              student_taps.size(), " and ", teacher_taps.size());
  at::Tensor total;
  for (size_t i = 0; i < student_taps.size(); ++i) {
    const at::Tensor s = compat::at_least_fp32(student_taps[i]);
    const at::Tensor t = teacher_taps[i].detach();
    TORCH_CHECK(s.dim() == 4 && t.dim() == 4 && s.size(0) == t.size(0),
                "attention transfer: tap ", i, " must be [B, C, H, W] with equal B, got ",
                s.sizes(), " and ", t.sizes());
    at::Tensor es = energy(s, p);
    at::Tensor et = energy(t.to(s.scalar_type()), p);
    const int64_t h = std::min(s.size(2), t.size(2));
    const int64_t w = std::min(s.size(3), t.size(3));
    const std::vector<int64_t> size{h, w};
    if (es.size(2) != h || es.size(3) != w) es = F::adaptive_avg_pool2d(es, F::AdaptiveAvgPool2dFuncOptions(size));
    if (et.size(2) != h || et.size(3) != w) et = F::adaptive_avg_pool2d(et, F::AdaptiveAvgPool2dFuncOptions(size));
    const at::Tensor term = (normalise(es) - normalise(et)).pow(2).mean();
    total = total.defined() ? total + term : term;
  }
  return total;
}

}  // namespace kdaug::distill
