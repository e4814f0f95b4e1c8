// White-box L-inf adversarial attacks (FGSM, PGD) and robust accuracy under them.
//
// The model's input is x in [0,1] (normalisation happens inside the model), so eps and step
// sizes are in pixel units: eps = 8/255 moves every value by at most 8 grey levels, and the
// adversarial image is clamped to [0,1].
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval {

// Fast Gradient Sign Method (Goodfellow et al. 2015): x + eps * sign(grad_x CE(model(x), y)),
// clamped to [0,1].
//   x: float [B,C,H,W] in [0,1] on the model's device; y: int64 [B] labels on the same device.
//   returns float [B,C,H,W], detached. The model is run in eval mode (its previous mode is
//   restored) and its parameters' gradients are not touched. Throws kdaug::Error for eps < 0.
at::Tensor fgsm(models::ClassifierImpl& model, const at::Tensor& x, const at::Tensor& y, double eps);

struct PgdOptions {
  double eps = 8.0 / 255;   // L-inf radius in pixel units (>= 0)
  int steps = 20;           // gradient steps (>= 1)
  double step_size = 0;     // per step; 0 = 2.5 * eps / steps (Madry et al. 2018)
  bool random_start = true; // start from a uniform point in the eps-ball
  int restarts = 1;         // independent runs (>= 1); per sample the highest-loss result is kept
  uint64_t seed = 0;        // seeds the random starts
};

// Projected Gradient Descent (Madry et al. 2018), L-inf, with random start and restarts.
// Same tensor contract as fgsm. Throws kdaug::Error for a bad option (named, with its value).
at::Tensor pgd(models::ClassifierImpl& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& opts);

struct AdversarialOptions {
  std::vector<double> eps{1.0 / 255, 4.0 / 255, 8.0 / 255};
  bool fgsm = true;
  bool pgd = true;
  int pgd_steps = 20;
  double pgd_step_size = 0;  // 0 = 2.5 * eps / steps
  bool random_start = true;
  int restarts = 1;
  uint64_t seed = 0;         // batch i of eps e uses derive_seed(seed, "pgd", ...)
  int64_t batch_size = 250;  // images attacked together (their random starts are drawn at once);
                             // on the CPU the gradients are taken 64 images at a time
  int64_t limit = 1000;      // attack only the first N test images (0 = all): PGD is costly
  std::ostream* progress = nullptr;
  bool interactive = false;
};

// Robust accuracy of one attack at one eps.
struct AdversarialResult {
  std::string attack;  // "fgsm" or "pgd"
  double eps = 0;
  int steps = 1;       // 1 for FGSM
  int restarts = 1;
  double accuracy = 0; // on the adversarial images
  int64_t n = 0;
};

struct AdversarialReport {
  double clean_accuracy = 0;  // on the same n images
  int64_t n = 0;
  std::vector<AdversarialResult> results;  // per eps: fgsm then pgd
};

AdversarialReport evaluate_adversarial(models::ClassifierImpl& model, const data::Dataset& test,
                                       const AdversarialOptions& opts);

// {"clean_accuracy", "n", "results": [{"attack","eps","eps_255","steps","restarts","accuracy","n"}]}
nlohmann::json to_json(const AdversarialReport& report);

}  // namespace kdaug::eval
