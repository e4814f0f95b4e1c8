// Mixing augmentations that change the targets: mixup (Zhang et al. 2018) and cutmix (Yun et
// al. 2019). They have their own API because they need the labels and return soft targets.
//
// WHAT THIS REPRESENTS: a configured mixer. For a batch x (float [B,C,H,W] in [0,1], or uint8
// which is converted to float first; any C, any device)
// with targets y (float [B,K], one-hot or already soft, rows summing to 1), sample i is mixed
// with sample perm[i]:
//   mixup:  x_i = lam_i x_i + (1 - lam_i) x_perm[i]
//   cutmix: the box of sample i is pasted from x_perm[i]; lam_i = 1 - box area / (H W)
//   target_i = lam_i y_i + (1 - lam_i) y_perm[i]   (rows still sum to 1)
// lam_i ~ Beta(alpha, alpha) per sample; with probability 1 - p a sample is left alone (lam 1).
// The parameters are batch-level (perm refers to positions in the batch), so unlike
// PipelineParams they are not meant to be selected by sample.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>

namespace YAML {
class Node;
}

namespace kdaug::augment {

enum class MixKind { kMixup, kCutmix };

struct MixParams {
  at::Tensor perm;  // int64 [B]: the partner of each sample
  at::Tensor lam;   // float [B]: weight of the sample itself, in [0,1]
  at::Tensor box;   // int64 [B,4] (top, left, h, w) for cutmix; undefined for mixup
};

struct MixResult {
  at::Tensor images;   // float [B,C,H,W] in [0,1] (also for uint8 input)
  at::Tensor targets;  // float [B,K], rows sum to 1
  MixParams params;
};

class Mixer {
 public:
  // alpha > 0, p in [0,1]; throws kdaug::Error with the bad value otherwise.
  Mixer(MixKind kind, double alpha = 1.0, double p = 1.0);
  // {mixup: {alpha: 0.2, p: 1}} or {cutmix: {alpha: 1.0}}; `where` names it in errors.
  static Mixer from_yaml(const YAML::Node& item, const std::string& where);

  // Draws parameters (CPU generator; tensors placed on `device`).
  MixParams sample(int64_t batch, int64_t height, int64_t width, at::Generator& gen, c10::Device device) const;
  // Applies given parameters (deterministic; bit-identical on replay).
  MixResult apply(const at::Tensor& x, const at::Tensor& targets, const MixParams& params) const;
  MixResult operator()(const at::Tensor& x, const at::Tensor& targets, at::Generator& gen) const;

  MixKind kind() const { return kind_; }
  std::string describe() const;

 private:
  MixKind kind_;
  double alpha_, p_;
};

// One-hot float [B,K] targets from int64 labels [B].
at::Tensor one_hot_targets(const at::Tensor& labels, int64_t num_classes);

}  // namespace kdaug::augment
