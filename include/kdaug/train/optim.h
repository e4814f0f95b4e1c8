// Optimisers and learning-rate schedules.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kdaug::train {

struct OptimizerOptions {
  std::string name = "sgd";   // sgd | adam | adamw
  double lr = 0.1;            // peak learning rate (> 0, finite)
  double momentum = 0.9;      // sgd only
  bool nesterov = true;       // sgd only (needs momentum > 0)
  double weight_decay = 5e-4; // L2 (sgd, adam) or decoupled (adamw)
  double beta1 = 0.9, beta2 = 0.999;  // adam/adamw
};

// Throws kdaug::Error naming the field for a bad value (lr <= 0 or not finite, unknown name, ...).
void validate(const OptimizerOptions& o);
std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<at::Tensor> params, const OptimizerOptions& o);
// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& opt, double lr);

struct ScheduleOptions {
  std::string kind = "cosine";  // cosine | step | constant
  double warmup_epochs = 0;     // linear warm-up from ~0 to the peak lr (fractional allowed)
  double final_lr = 0;          // cosine: value reached at the last step
  std::vector<double> milestones;  // step: epochs (fractions of training if all < 1) where lr *= gamma
  double gamma = 0.1;           // step
};
void validate(const ScheduleOptions& s);

// Learning rate at global step `step` (0-based) of `total_steps`, with `steps_per_epoch` steps an
// epoch; evaluated every step (a per-step cosine, as in most CIFAR KD code).
double lr_at(const ScheduleOptions& s, double peak_lr, int64_t step, int64_t total_steps, int64_t steps_per_epoch);

}  // namespace kdaug::train
