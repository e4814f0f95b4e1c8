#include "kdaug/distill/dkd.h"

#include <ATen/ATen.h>

#include <cmath>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"

namespace kdaug::distill {
namespace {

// Log-probabilities of the binary split [y, not y] and of the non-target classes, at T.
struct Split {
  at::Tensor log_binary;     // [B, 2]
  at::Tensor log_nontarget;  // [B, K - 1]
};

Split split(const at::Tensor& logits, const at::Tensor& target_mask, double t) {
  const int64_t batch = logits.size(0);
  const int64_t classes = logits.size(1);
  const at::Tensor z = logits / t;
  const at::Tensor log_all = at::logsumexp(z, {1}, /*keepdim=*/true);
  const at::Tensor z_target = z.masked_select(target_mask).view({batch, 1});
  const at::Tensor z_other = z.masked_select(target_mask.logical_not()).view({batch, classes - 1});
  const at::Tensor log_other = at::logsumexp(z_other, {1}, /*keepdim=*/true);
  return {at::cat({z_target - log_all, log_other - log_all}, 1),
          z_other - log_other};
}

// Batch-mean KL(p || q) from log-probabilities, rows summed.
at::Tensor kl_rows(const at::Tensor& log_p, const at::Tensor& log_q) {
  return (log_p.exp() * (log_p - log_q)).sum() / static_cast<double>(log_p.size(0));
}

}  // namespace

DKDParts dkd_parts(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                   const at::Tensor& labels, double temperature) {
  KDAUG_CHECK(std::isfinite(temperature) && temperature > 0,
              "dkd: temperature must be positive and finite, got ", temperature);
  TORCH_CHECK(student_logits.dim() == 2 && student_logits.is_floating_point(),
              "dkd: student logits must be floating [B, K], got ", student_logits.sizes());
  TORCH_CHECK(teacher_logits.sizes() == student_logits.sizes(),
              "dkd: teacher logits must be ", student_logits.sizes(), ", got ",
              teacher_logits.sizes());
  const int64_t batch = student_logits.size(0);
  const int64_t classes = student_logits.size(1);
  TORCH_CHECK(classes >= 2, "dkd: needs at least 2 classes, got ", classes);
  TORCH_CHECK(labels.scalar_type() == at::kLong && labels.dim() == 1 && labels.size(0) == batch,
              "dkd: labels must be int64 [", batch, "], got ", labels.scalar_type(), " ",
              labels.sizes());
  // one_hot checks the label range itself (a host sync we would otherwise add here).
  const at::Tensor mask =
      at::one_hot(labels, classes).to(at::kBool);  // [B, K], true at the label
  // In fp32 even when the student's forward ran in bf16 (compat::at_least_fp32).
  const at::Tensor student = compat::at_least_fp32(student_logits);
  const at::Tensor teacher = teacher_logits.detach().to(student.scalar_type());
  const Split s = split(student, mask, temperature);
  const Split t = split(teacher, mask, temperature);
  const double t2 = temperature * temperature;
  return {kl_rows(t.log_binary, s.log_binary) * t2, kl_rows(t.log_nontarget, s.log_nontarget) * t2};
}

at::Tensor dkd_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                    const at::Tensor& labels, double alpha, double beta, double temperature) {
  KDAUG_CHECK(std::isfinite(alpha) && alpha >= 0, "dkd: alpha must be >= 0 and finite, got ", alpha);
  KDAUG_CHECK(std::isfinite(beta) && beta >= 0, "dkd: beta must be >= 0 and finite, got ", beta);
  const DKDParts p = dkd_parts(student_logits, teacher_logits, labels, temperature);
  return p.tckd * alpha + p.nckd * beta;
}

}  // namespace kdaug::distill
