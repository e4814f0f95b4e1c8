#include "kdaug/train/optim.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>

#include "kdaug/core/error.h"

namespace kdaug::train {

void validate(const OptimizerOptions& o) {
  KDAUG_CHECK(o.name == "sgd" || o.name == "adam" || o.name == "adamw",
              "optimizer must be sgd, adam or adamw, got '", o.name, "'");
  KDAUG_CHECK(std::isfinite(o.lr) && o.lr > 0, "learning rate must be a positive finite number, got ", o.lr);
  KDAUG_CHECK(std::isfinite(o.momentum) && o.momentum >= 0 && o.momentum < 1, "momentum must be in [0,1), got ",
              o.momentum);
  KDAUG_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "weight decay must be >= 0, got ",
              o.weight_decay);
  KDAUG_CHECK(!(o.name == "sgd" && o.nesterov && o.momentum <= 0), "nesterov needs momentum > 0, got momentum ",
              o.momentum);
  KDAUG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "adam betas must be in [0,1), got ",
              o.beta1, ", ", o.beta2);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<at::Tensor> params, const OptimizerOptions& o) {
  validate(o);
  if (o.name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        std::move(params),
        torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
  }
  if (o.name == "adam") {
    return std::make_unique<torch::optim::Adam>(
        std::move(params),
        torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::AdamW>(
      std::move(params), torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

void validate(const ScheduleOptions& s) {
  KDAUG_CHECK(s.kind == "cosine" || s.kind == "step" || s.kind == "constant",
              "schedule must be cosine, step or constant, got '", s.kind, "'");
  KDAUG_CHECK(std::isfinite(s.warmup_epochs) && s.warmup_epochs >= 0, "warm-up epochs must be >= 0, got ",
              s.warmup_epochs);
  KDAUG_CHECK(std::isfinite(s.final_lr) && s.final_lr >= 0, "final lr must be >= 0, got ", s.final_lr);
  KDAUG_CHECK(std::isfinite(s.gamma) && s.gamma > 0, "step gamma must be > 0, got ", s.gamma);
  for (double m : s.milestones) KDAUG_CHECK(std::isfinite(m) && m > 0, "step milestones must be > 0, got ", m);
}

double lr_at(const ScheduleOptions& s, double peak, int64_t step, int64_t total, int64_t per_epoch) {
  const double epoch = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(per_epoch, 1));
  const double total_epochs = static_cast<double>(total) / static_cast<double>(std::max<int64_t>(per_epoch, 1));
  const double warm_steps = s.warmup_epochs * static_cast<double>(per_epoch);
  if (warm_steps > 0 && static_cast<double>(step) < warm_steps) {
    return peak * static_cast<double>(step + 1) / warm_steps;
  }
  if (s.kind == "constant") return peak;
  if (s.kind == "step") {
    const bool fractional = !s.milestones.empty() &&
                            std::all_of(s.milestones.begin(), s.milestones.end(), [](double m) { return m < 1; });
    double lr = peak;
    for (double m : s.milestones) {
      if (epoch >= (fractional ? m * total_epochs : m)) lr *= s.gamma;
    }
    return lr;
  }
  // cosine from the end of warm-up to the last step
  const double span = static_cast<double>(total) - warm_steps;
  const double t = span > 1 ? (static_cast<double>(step) - warm_steps) / (span - 1) : 1.0;
  return s.final_lr + 0.5 * (peak - s.final_lr) * (1 + std::cos(M_PI * std::min(1.0, std::max(0.0, t))));
}

}  // namespace kdaug::train
