// A tiny ClassifierImpl for the distill tests: fast, optionally with BatchNorm, and counting
// its forward passes so tests can assert which views were computed.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "kdaug/models/model.h"

namespace kdaug::distill::testing {

// conv1x1(C -> c1) + tanh            -> tap 0  [B, c1, H, W]
// avgpool 2, conv3x3(c1 -> c2) + tanh -> tap 1  [B, c2, H/2, W/2]
// global average pool, linear(c2 -> K) -> logits
class TinyNetImpl : public models::ClassifierImpl {
 public:
  TinyNetImpl(models::ModelSpec spec, int64_t c1, int64_t c2, bool batch_norm = false)
      : models::ClassifierImpl(std::move(spec)), c1_(c1), c2_(c2) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec_.in_channels, c1, 1)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(c2, spec_.num_classes));
    if (batch_norm) bn = register_module("bn", torch::nn::BatchNorm2d(c1));
  }

  // Re-draws every parameter from `gen` (no global RNG in tests either).
  void init(at::Generator gen, double scale = 0.5) {
    torch::NoGradGuard g;
    for (auto& p : parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * scale);
  }

  at::Tensor forward(const at::Tensor& x) override { return forward_features(x).logits; }

  models::Features forward_features(const at::Tensor& x) override {
    ++forward_calls;
    rows_seen += x.size(0);
    at::Tensor h = conv1->forward(x);
    if (bn) h = bn->forward(h);
    at::Tensor t0 = torch::tanh(h);
    at::Tensor t1 = torch::tanh(conv2->forward(torch::avg_pool2d(t0, 2)));
    at::Tensor logits = fc->forward(t1.mean({2, 3}));
    return {{t0, t1}, logits};
  }

  std::vector<int64_t> tap_channels() const override { return {c1_, c2_}; }

  int64_t forward_calls = 0;
  int64_t rows_seen = 0;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};

 private:
  int64_t c1_, c2_;
};
TORCH_MODULE(TinyNet);

inline models::ModelSpec tiny_spec(int64_t channels = 1, int64_t size = 8, int64_t classes = 4) {
  models::ModelSpec s;
  s.name = "tiny";
  s.in_channels = channels;
  s.height = size;
  s.width = size;
  s.num_classes = classes;
  s.mean.assign(channels, 0.0);
  s.std.assign(channels, 1.0);
  return s;
}

}  // namespace kdaug::distill::testing
