// Private building blocks of the model zoo: convolution and linear layers that count their
// multiply-accumulates, the input normaliser, seeded weight initialisation, and the base class
// every zoo model derives from. Not installed: models are built through registry.h.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "kdaug/models/model.h"

namespace kdaug::models::detail {

// RAII: while alive, every Conv/Linear forward on this thread adds its MACs per image (its
// output's batch dimension is divided out) to `*sink`. Counting is off otherwise, so it costs
// one thread_local load per layer in normal runs.
class MacCounter {
 public:
  explicit MacCounter(int64_t* sink);
  ~MacCounter();
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;

 private:
  int64_t* previous_;
};

// 2-D convolution without bias (every zoo conv is followed by BatchNorm, which makes a bias
// redundant). weight: [out, in/groups, k, k]. Parameters are left uninitialised here (no draw
// from LibTorch's global generator): init_parameters() fills them from a seeded generator.
//   forward: x float [B, in, H, W] -> [B, out, H', W'] on x's device.
struct ConvOptions {
  int64_t in = 0, out = 0, kernel = 3, stride = 1, padding = 1, groups = 1;
};
class ConvImpl : public torch::nn::Module {
 public:
  explicit ConvImpl(const ConvOptions& o);
  at::Tensor forward(const at::Tensor& x);
  const ConvOptions& options() const { return opt_; }
  // Folds the eval-mode BatchNorm `bn` that follows this conv into it, for inference:
  // weight *= s and bias = beta - mean * s per output channel, s = gamma / sqrt(var + eps).
  // Afterwards forward() computes conv + bias, which equals bn(conv(x)) in eval mode up to
  // float rounding, and the BatchNorm must be skipped (conv_bn() does that).
  void fold(const torch::nn::BatchNorm2dImpl& bn);
  bool folded() const { return bias.defined(); }
  at::Tensor weight;
  at::Tensor bias;  // undefined until fold(); then a buffer "folded_bias" [out]

 private:
  ConvOptions opt_;
};
TORCH_MODULE(Conv);

// Fully connected layer with bias. forward: x float [B, in] -> [B, out].
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
};
TORCH_MODULE(Linear);

// 3x3 conv (padding 1) / 1x1 conv (padding 0) shorthands.
Conv conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1);
Conv conv1x1(int64_t in, int64_t out, int64_t stride = 1);
torch::nn::BatchNorm2d batch_norm(int64_t channels);

// bn(c(x)), or c(x) alone once c has folded bn in (ZooModel::fold_batch_norm).
inline at::Tensor conv_bn(Conv& c, torch::nn::BatchNorm2d& bn, const at::Tensor& x) {
  at::Tensor y = c(x);
  return c->folded() ? y : bn(y);
}

// Folds every BatchNorm2d that directly follows a Conv in `seq` into that Conv and returns
// the Sequential without those BatchNorms (same modules otherwise, shared, in order), so the
// owner can swap it in with replace_module. *count grows by the number of folded pairs.
torch::nn::Sequential fold_sequential(const torch::nn::Sequential& seq, int64_t* count);

// Fills every parameter of `module` (in registration order, so the result depends only on the
// architecture and the generator's seed):
//   Conv:   Kaiming normal, fan_out = out * k * k, gain sqrt(2) (He et al. 2015, ReLU nets)
//   Linear: uniform(-1/sqrt(in), 1/sqrt(in)) for weight and bias (LibTorch's default rule)
//   BatchNorm: weight 1, bias 0 (running stats are already 0 / 1)
void init_parameters(torch::nn::Module& module, at::Generator& gen);

// Common base of the zoo: holds the normalisation buffers `input_mean` / `input_std`
// ([1, C, 1, 1], from spec.mean / spec.std) so they travel in checkpoints.
class ZooModel : public ClassifierImpl {
 public:
  explicit ZooModel(const ModelSpec& spec);
  at::Tensor forward(const at::Tensor& x) override { return forward_features(x).logits; }
  int64_t fold_batch_norm() override;

 protected:
  // The architecture's own folding (called once, in eval mode); returns the folded pairs.
  virtual int64_t fold_conv_bn() { return 0; }
  // Checks x ([B, C, H, W], C = spec.in_channels) and returns (x - mean) / std.
  at::Tensor normalize(const at::Tensor& x) const;
  at::Tensor input_mean_, input_std_;

 private:
  int64_t folded_ = -1;  // pairs folded; -1 before fold_batch_norm()
};

// Global average pool [B, C, H, W] -> [B, C].
at::Tensor global_avg_pool(const at::Tensor& x);

// The classifier head: global average pool, then `fc`, in fp32 even inside a bf16 autocast
// region. The logits feed every loss and soft label; rounding them to bf16 (about 0.06 apart
// near 10) blurs the small differences distillation learns from, and a [C, K] product in fp32
// costs nothing beside the convolutions.
at::Tensor classify(Linear& fc, const at::Tensor& features);

// The parsed form of a registry name plus the builders (one per family, in their own .cpp).
std::shared_ptr<ZooModel> build_resnet(const ModelSpec& spec, int64_t depth);
std::shared_ptr<ZooModel> build_vgg(const ModelSpec& spec, int64_t depth);
std::shared_ptr<ZooModel> build_mobilenetv2(const ModelSpec& spec);
std::shared_ptr<ZooModel> build_wrn(const ModelSpec& spec, int64_t depth, int64_t widen);

}  // namespace kdaug::models::detail
