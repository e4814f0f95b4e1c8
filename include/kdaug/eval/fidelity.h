// Fidelity of a student to its teacher (Stanton et al. 2021): top-1 agreement and
// KL(teacher || student) of the softmax outputs on the same images.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

// WHAT THIS REPRESENTS: how closely a student reproduces a teacher on n images.
//   agreement: fraction of images where both argmaxes are equal, in [0,1]
//   kl: mean over images of sum_k p_t,k (log p_t,k - log p_s,k), natural log, at temperature 1
struct FidelityReport {
  double agreement = 0, kl = 0;
  int64_t n = 0;
};

// From logits: teacher and student float [N,K] (same shape, any device).
FidelityReport fidelity_from_logits(const at::Tensor& teacher_logits, const at::Tensor& student_logits);

// Runs both models on the test images (first `limit`, 0 = all) in batches.
FidelityReport evaluate_fidelity(models::ClassifierImpl& teacher, models::ClassifierImpl& student,
                                 const data::Dataset& test, int64_t batch_size = 500, int64_t limit = 0,
                                 std::ostream* progress = nullptr);

// {"agreement", "kl", "n"}
nlohmann::json to_json(const FidelityReport& report);

}  // namespace kdaug::eval
