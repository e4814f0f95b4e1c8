// Distances between a student's logits and a target: the building blocks of every
// distillation term (cross-entropy, KL at temperature T, L1 and L2 between logits or
// probabilities) and the parsing of their names from recipes.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <string>

namespace kdaug::distill {

// Which distance a term uses.
//   CE:  cross-entropy against hard labels, or against soft targets (x T^2, see distance()).
//   KL:  T^2 * KL(p_target || softmax(s / T)), averaged over the batch (Hinton et al. 2015).
//   L1:  mean absolute difference (logits or probabilities, see Space).
//   L2:  mean squared difference ("mse"; logits or probabilities).
//   DKD: decoupled KD (Zhao et al. 2022). Needs labels as well as teacher logits, so it is
//        computed by dkd_loss() (see dkd.h); distance() rejects it.
enum class Distance { CE, KL, L1, L2, DKD };

// Where L1/L2 compare: raw logits, or softmax(logits / T) probabilities.
enum class Space { Logits, Probs };

// Options of one distance: DistanceOptions().kind(Distance::KL).temperature(4).
struct DistanceOptions {
  TORCH_ARG(Distance, kind) = Distance::CE;
  // T > 0. Softens both distributions for KL, CE-with-soft-targets and Probs-space L1/L2, and
  // scales KL and soft CE by T^2 so that gradients keep their size as T changes. Unused for
  // Logits-space L1/L2; must be 1 for CE against hard labels.
  TORCH_ARG(double, temperature) = 1.0;
  // L1/L2 only.
  TORCH_ARG(Space, space) = Space::Logits;
  // In [0, 1): mixes the target with the uniform distribution (CE only).
  TORCH_ARG(double, label_smoothing) = 0.0;
  // The [B, K] target already holds probabilities (e.g. mixup labels, a probability cache)
  // rather than teacher logits: the temperature is then not applied to it.
  TORCH_ARG(bool, target_is_probs) = false;
  // DKD weights of the target-class (TCKD) and non-target-class (NCKD) parts.
  TORCH_ARG(double, dkd_alpha) = 1.0;
  TORCH_ARG(double, dkd_beta) = 8.0;
};

// Parses "ce", "kl", "l1", "l2" / "mse", "dkd" (case-insensitive). Throws kdaug::Error naming
// `field` and the bad value otherwise.
Distance parse_distance(const std::string& name, const std::string& field = "distance");
// Parses "logits" / "probs" (also "probabilities").
Space parse_space(const std::string& name, const std::string& field = "space");
std::string to_string(Distance d);
std::string to_string(Space s);

// Throws kdaug::Error unless opts are usable: T positive and finite, label smoothing in [0, 1).
void validate(const DistanceOptions& opts, const std::string& field = "distance");

// The distance between a student's logits and a target, averaged over the batch (a scalar).
//   student_logits: floating [B, K] (float or double), any device; gradients flow through it.
//   target: either int64 labels [B] in [0, K) (CE only), or a floating [B, K] tensor of teacher
//           logits (or probabilities when opts.target_is_probs), same device; treated as a
//           constant (no gradient flows into it).
// Definitions, with p_t = softmax(target / T) (or the target itself if it holds
// probabilities) and log q = log_softmax(s / T):
//   CE, labels:  mean_b -log softmax(s)_y (with label smoothing)
//   CE, soft:    T^2 * mean_b sum_k -p_t log q
//   KL:          T^2 * mean_b sum_k p_t (log p_t - log q)        (batchmean)
//   L1 / L2:     mean over B*K elements of |a - b| or (a - b)^2, where a, b are the logits
//                (Space::Logits) or softmax(s / T) and p_t (Space::Probs)
at::Tensor distance(const at::Tensor& student_logits, const at::Tensor& target,
                    const DistanceOptions& opts);

}  // namespace kdaug::distill
