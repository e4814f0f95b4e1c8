// CIFAR ResNet (He et al. 2016, section 4.2) with projection shortcuts (option B).
#include <torch/torch.h>

#include "layers.h"

namespace kdaug::models::detail {
namespace {

// conv3x3-BN-ReLU-conv3x3-BN (+ shortcut) - ReLU. The shortcut is a 1x1 conv + BN whenever the
// stride or the width changes, identity otherwise.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn1(register_module("bn1", batch_norm(out))),
        conv2(register_module("conv2", conv3x3(out, out))),
        bn2(register_module("bn2", batch_norm(out))) {
    if (stride != 1 || in != out) {
      shortcut_conv = register_module("shortcut_conv", conv1x1(in, out, stride));
      shortcut_bn = register_module("shortcut_bn", batch_norm(out));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = torch::relu(conv_bn(conv1, bn1, x));
    y = conv_bn(conv2, bn2, y);
    at::Tensor s = shortcut_conv ? conv_bn(shortcut_conv, shortcut_bn, x) : x;
    return torch::relu(y + s);
  }
  int64_t fold() {
    conv1->fold(*bn1);
    conv2->fold(*bn2);
    if (shortcut_conv) shortcut_conv->fold(*shortcut_bn);
    return shortcut_conv ? 3 : 2;
  }
  Conv conv1;
  torch::nn::BatchNorm2d bn1;
  Conv conv2;
  torch::nn::BatchNorm2d bn2;
  Conv shortcut_conv{nullptr};
  torch::nn::BatchNorm2d shortcut_bn{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNetImpl : public ZooModel {
 public:
  ResNetImpl(const ModelSpec& spec, int64_t depth) : ZooModel(spec) {
    const int64_t n = (depth - 2) / 6;
    stem_conv_ = register_module("stem_conv", conv3x3(spec.in_channels, 16));
    stem_bn_ = register_module("stem_bn", batch_norm(16));
    int64_t in = 16;
    const int64_t widths[3] = {16, 32, 64};
    for (int s = 0; s < 3; ++s) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < n; ++b) {
        stage->push_back(BasicBlock(in, widths[s], (b == 0 && s > 0) ? 2 : 1));
        in = widths[s];
      }
      stages_.push_back(register_module("stage" + std::to_string(s + 1), stage));
    }
    fc_ = register_module("fc", Linear(64, spec.num_classes));
  }

  Features forward_features(const at::Tensor& x) override {
    Features f;
    at::Tensor h = torch::relu(conv_bn(stem_conv_, stem_bn_, normalize(x)));
    for (auto& stage : stages_) {
      h = stage->forward(h);
      f.taps.push_back(h);
    }
    f.logits = classify(fc_, h);
    return f;
  }
  std::vector<int64_t> tap_channels() const override { return {16, 32, 64}; }

 protected:
  int64_t fold_conv_bn() override {
    stem_conv_->fold(*stem_bn_);
    int64_t n = 1;
    for (auto& stage : stages_) {
      for (auto& child : stage->children()) n += child->as<BasicBlockImpl>()->fold();
    }
    return n;
  }

 private:
  Conv stem_conv_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<ZooModel> build_resnet(const ModelSpec& spec, int64_t depth) {
  return std::make_shared<ResNetImpl>(spec, depth);
}

}  // namespace kdaug::models::detail
