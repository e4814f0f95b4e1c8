// The model zoo's common interface: a classifier that normalises its own input and exposes
// intermediate features for feature distillation.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kdaug::models {

// Everything needed to build (and rebuild from a checkpoint) one model.
struct ModelSpec {
  std::string name = "resnet20";  // a registry name: resnet8, vgg13_bn, mobilenetv2, wrn_16_2, ...
  int64_t in_channels = 1;        // C of the input
  int64_t height = 28;            // H, W of the input (pool counts / FLOPs depend on them)
  int64_t width = 28;
  int64_t num_classes = 10;
  double width_mult = 1.0;        // channel multiplier (vgg*, mobilenetv2); 1.0 elsewhere
  std::vector<double> mean{0.2860};  // input normalisation, one entry per channel,
  std::vector<double> std{0.3530};   // applied inside the model (its first step)

  nlohmann::json to_json() const;
  // Throws kdaug::Error naming the missing/bad field.
  static ModelSpec from_json(const nlohmann::json& j);
};

// Output of a forward pass with feature taps.
//   taps:   one tensor per stage, [B, C_i, H_i, W_i], in network order (the input of the
//           classifier head is the last); used by FitNets hints and attention transfer.
//   logits: float [B, num_classes]
struct Features {
  std::vector<at::Tensor> taps;
  at::Tensor logits;
};

// WHAT THIS REPRESENTS: an image classifier.
//   forward(x): x float [B, C, H, W] with values in [0,1] (NOT normalised: the model applies
//   spec.mean/std itself), on the model's device; returns logits [B, num_classes].
class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(ModelSpec spec) : spec_(std::move(spec)) {}
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual Features forward_features(const at::Tensor& x) = 0;
  // Channels of each tap, in order (same length as Features::taps).
  virtual std::vector<int64_t> tap_channels() const = 0;
  // For inference only (a frozen teacher): folds each BatchNorm that directly follows a
  // convolution into that convolution's weight and a bias, so forward() skips the BatchNorm
  // pass; outputs equal the eval-mode model's up to float rounding. Puts the model in eval mode
  // and freezes its parameters; it must not be trained afterwards. Idempotent: a second call
  // folds nothing more. Returns the number of folded pairs (0 where an architecture has none
  // that fold exactly, e.g. pre-activation WRN, whose BatchNorm comes before the conv's zero
  // padding).
  virtual int64_t fold_batch_norm() { return 0; }
  const ModelSpec& spec() const { return spec_; }

 protected:
  ModelSpec spec_;
};
using Classifier = std::shared_ptr<ClassifierImpl>;

}  // namespace kdaug::models
