#include "kdaug/distill/distance.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"

namespace kdaug::distill {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The target distribution p_t, softened at T unless it already holds probabilities.
at::Tensor target_probs(const at::Tensor& target, const DistanceOptions& opts) {
  if (opts.target_is_probs()) return target;
  return at::softmax(target / opts.temperature(), 1);
}

}  // namespace

Distance parse_distance(const std::string& name, const std::string& field) {
  const std::string n = lower(name);
  if (n == "ce" || n == "cross_entropy") return Distance::CE;
  if (n == "kl") return Distance::KL;
  if (n == "l1") return Distance::L1;
  if (n == "l2" || n == "mse") return Distance::L2;
  if (n == "dkd") return Distance::DKD;
  KDAUG_FAIL(field, ": unknown distance '", name, "' (expected ce, kl, l1, l2/mse or dkd)");
}

Space parse_space(const std::string& name, const std::string& field) {
  const std::string n = lower(name);
  if (n == "logits") return Space::Logits;
  if (n == "probs" || n == "probabilities") return Space::Probs;
  KDAUG_FAIL(field, ": unknown space '", name, "' (expected logits or probs)");
}

std::string to_string(Distance d) {
  switch (d) {
    case Distance::CE: return "ce";
    case Distance::KL: return "kl";
    case Distance::L1: return "l1";
    case Distance::L2: return "l2";
    case Distance::DKD: return "dkd";
  }
  return "?";
}

std::string to_string(Space s) { return s == Space::Logits ? "logits" : "probs"; }

void validate(const DistanceOptions& opts, const std::string& field) {
  const double t = opts.temperature();
  KDAUG_CHECK(std::isfinite(t) && t > 0, field, ".temperature: must be positive and finite, got ", t);
  const double ls = opts.label_smoothing();
  KDAUG_CHECK(std::isfinite(ls) && ls >= 0 && ls < 1, field,
              ".label_smoothing: must be in [0, 1), got ", ls);
  KDAUG_CHECK(std::isfinite(opts.dkd_alpha()) && opts.dkd_alpha() >= 0, field,
              ".dkd_alpha: must be >= 0 and finite, got ", opts.dkd_alpha());
  KDAUG_CHECK(std::isfinite(opts.dkd_beta()) && opts.dkd_beta() >= 0, field,
              ".dkd_beta: must be >= 0 and finite, got ", opts.dkd_beta());
}

at::Tensor distance(const at::Tensor& student_logits_in, const at::Tensor& target,
                    const DistanceOptions& opts) {
  validate(opts);
  // Computed in fp32 even when the student's forward ran in bf16 (mixed precision).
  const at::Tensor student_logits = compat::at_least_fp32(student_logits_in);
  TORCH_CHECK(student_logits.dim() == 2 && student_logits.is_floating_point(),
              "distance: student logits must be floating [B, K], got ", student_logits.sizes(), " ",
              student_logits.scalar_type());
  TORCH_CHECK(target.device() == student_logits.device(), "distance: target on ", target.device(),
              " but student logits on ", student_logits.device());
  const int64_t batch = student_logits.size(0);
  const int64_t classes = student_logits.size(1);
  const double t = opts.temperature();
  KDAUG_CHECK(opts.kind() != Distance::DKD,
              "distance: dkd needs labels as well as teacher logits; call dkd_loss()");

  if (!target.is_floating_point()) {
    KDAUG_CHECK(opts.kind() == Distance::CE, "distance: ", to_string(opts.kind()),
                " needs teacher logits or probabilities [B, K], got integer labels of shape ",
                target.sizes());
    TORCH_CHECK(target.scalar_type() == at::kLong && target.dim() == 1 && target.size(0) == batch,
                "distance: labels must be int64 [", batch, "], got ", target.scalar_type(), " ",
                target.sizes());
    KDAUG_CHECK(t == 1.0, "distance: temperature applies to soft targets only; CE against labels "
                "needs temperature 1, got ", t);
    return at::cross_entropy_loss(student_logits, target, {}, at::Reduction::Mean, -100,
                                  opts.label_smoothing());
  }

  TORCH_CHECK(target.sizes() == student_logits.sizes(), "distance: target must be [", batch, ", ",
              classes, "] like the student logits, got ", target.sizes());
  // Targets are constants: the teacher is never trained through the student's loss.
  const at::Tensor tgt = target.detach().to(student_logits.scalar_type());

  switch (opts.kind()) {
    case Distance::CE: {
      at::Tensor p = target_probs(tgt, opts);
      const double ls = opts.label_smoothing();
      if (ls > 0) p = p * (1 - ls) + ls / static_cast<double>(classes);
      const at::Tensor log_q = at::log_softmax(student_logits / t, 1);
      return -(p * log_q).sum(1).mean() * (t * t);
    }
    case Distance::KL: {
      const at::Tensor log_q = at::log_softmax(student_logits / t, 1);
      if (opts.target_is_probs()) {
        // xlogy keeps 0 * log 0 = 0 for exactly-zero probabilities (one-hot mixup targets).
        return (at::xlogy(tgt, tgt) - tgt * log_q).sum() / static_cast<double>(batch) * (t * t);
      }
      // A log-space target avoids log(0) when the teacher is very confident.
      const at::Tensor log_p = at::log_softmax(tgt / t, 1);
      return at::kl_div(log_q, log_p, at::Reduction::Sum, /*log_target=*/true) /
             static_cast<double>(batch) * (t * t);
    }
    case Distance::L1:
    case Distance::L2: {
      at::Tensor a = student_logits;
      at::Tensor b = tgt;
      if (opts.space() == Space::Probs) {
        a = at::softmax(student_logits / t, 1);
        b = target_probs(tgt, opts);
      } else {
        KDAUG_CHECK(!opts.target_is_probs(), "distance: ", to_string(opts.kind()),
                    " in logit space cannot compare against probabilities; use space probs");
      }
      const at::Tensor diff = a - b;
      return opts.kind() == Distance::L1 ? diff.abs().mean() : diff.pow(2).mean();
    }
    case Distance::DKD: break;
  }
  KDAUG_FAIL("distance: unhandled kind");
}

}  // namespace kdaug::distill
