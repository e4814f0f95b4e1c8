// MobileNetV2 (Sandler et al. 2018) with the usual CIFAR strides: the stem conv has stride 1
// and so does the second group (24 channels), leaving three stride-2 groups (32x32 -> 4x4).
// No dropout before the classifier (the CIFAR variants in the KD literature have none).
#include <torch/torch.h>

#include <cmath>

#include "layers.h"

namespace kdaug::models::detail {
namespace {

// torchvision's _make_divisible: round to a multiple of 8, never dropping more than 10%.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

// expand 1x1 (skipped when t = 1) - BN - ReLU6 - depthwise 3x3 - BN - ReLU6 - project 1x1 - BN,
// plus the input when the shape is kept.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand) : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    if (expand != 1) {
      layers_->push_back(conv1x1(in, hidden));
      layers_->push_back(batch_norm(hidden));
      layers_->push_back(torch::nn::ReLU6());
    }
    layers_->push_back(conv3x3(hidden, hidden, stride, /*groups=*/hidden));
    layers_->push_back(batch_norm(hidden));
    layers_->push_back(torch::nn::ReLU6());
    layers_->push_back(conv1x1(hidden, out));
    layers_->push_back(batch_norm(out));
    register_module("layers", layers_);
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = layers_->forward(x);
    return residual_ ? x + y : y;
  }
  int64_t fold() {
    int64_t n = 0;
    layers_ = replace_module("layers", fold_sequential(layers_, &n));
    return n;
  }

 private:
  bool residual_;
  torch::nn::Sequential layers_;
};
TORCH_MODULE(InvertedResidual);

struct GroupConfig {
  int64_t expand, channels, repeats, stride;
};
// Table 2 of the paper with CIFAR strides (second group stride 1).
const GroupConfig kGroups[] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                               {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
// Groups whose output is a feature tap: the last group at each resolution (full, /2, /4);
// the final 1x1 conv's output (/8) is the last tap.
const bool kTapAfterGroup[] = {false, true, true, false, true, false, false};

class MobileNetV2Impl : public ZooModel {
 public:
  explicit MobileNetV2Impl(const ModelSpec& spec) : ZooModel(spec) {
    const double wm = spec.width_mult;
    int64_t in = make_divisible(32 * wm);
    stem_->push_back(conv3x3(spec.in_channels, in));
    stem_->push_back(batch_norm(in));
    stem_->push_back(torch::nn::ReLU6());
    register_module("stem", stem_);
    for (size_t g = 0; g < std::size(kGroups); ++g) {
      const auto& c = kGroups[g];
      const int64_t out = make_divisible(c.channels * wm);
      torch::nn::Sequential group;
      for (int64_t i = 0; i < c.repeats; ++i) {
        group->push_back(InvertedResidual(in, out, i == 0 ? c.stride : 1, c.expand));
        in = out;
      }
      groups_.push_back(register_module("group" + std::to_string(g + 1), group));
      if (kTapAfterGroup[g]) tap_channels_.push_back(out);
    }
    const int64_t last = make_divisible(1280 * std::max(1.0, wm));
    head_->push_back(conv1x1(in, last));
    head_->push_back(batch_norm(last));
    head_->push_back(torch::nn::ReLU6());
    register_module("head", head_);
    tap_channels_.push_back(last);
    fc_ = register_module("fc", Linear(last, spec.num_classes));
  }

  Features forward_features(const at::Tensor& x) override {
    Features f;
    at::Tensor h = stem_->forward(normalize(x));
    for (size_t g = 0; g < groups_.size(); ++g) {
      h = groups_[g]->forward(h);
      if (kTapAfterGroup[g]) f.taps.push_back(h);
    }
    h = head_->forward(h);
    f.taps.push_back(h);
    f.logits = classify(fc_, h);
    return f;
  }
  std::vector<int64_t> tap_channels() const override { return tap_channels_; }

 protected:
  int64_t fold_conv_bn() override {
    int64_t n = 0;
    stem_ = replace_module("stem", fold_sequential(stem_, &n));
    head_ = replace_module("head", fold_sequential(head_, &n));
    for (auto& group : groups_) {
      for (auto& child : group->children()) n += child->as<InvertedResidualImpl>()->fold();
    }
    return n;
  }

 private:
  torch::nn::Sequential stem_, head_;
  std::vector<torch::nn::Sequential> groups_;
  std::vector<int64_t> tap_channels_;
  Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<ZooModel> build_mobilenetv2(const ModelSpec& spec) {
  return std::make_shared<MobileNetV2Impl>(spec);
}

}  // namespace kdaug::models::detail
