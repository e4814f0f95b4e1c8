// Decoupled knowledge distillation (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022).
#pragma once

#include <ATen/core/Tensor.h>

namespace kdaug::distill {

// The two parts of DKD, each already scaled by T^2 and averaged over the batch.
//   tckd: target-class KD, KL between the binary distributions [p_y, 1 - p_y] of teacher and
//         student (softmax at T).
//   nckd: non-target-class KD, KL between teacher and student distributions over the K - 1
//         classes other than y (softmax at T restricted to them).
struct DKDParts {
  at::Tensor tckd;
  at::Tensor nckd;
};

// student_logits, teacher_logits: floating [B, K], K >= 2, same device; the teacher's are a
// constant (detached). labels: int64 [B] in [0, K). temperature > 0.
// Computed in log space (logsumexp over the non-target classes), so it stays finite for
// confident teachers, unlike the reference code's "-1000 * mask" trick.
DKDParts dkd_parts(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                   const at::Tensor& labels, double temperature);

// alpha * TCKD + beta * NCKD (the paper's defaults on CIFAR: alpha 1, beta 8, T 4).
// alpha, beta >= 0 and finite; throws kdaug::Error with the bad value otherwise.
at::Tensor dkd_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                    const at::Tensor& labels, double alpha, double beta, double temperature);

}  // namespace kdaug::distill
