// Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks, widths
// 16k/32k/64k, (d-4)/6 blocks per group, no dropout.
#include <torch/torch.h>

#include "layers.h"

namespace kdaug::models::detail {
namespace {

// BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, added to the input; when the shape changes the
// shortcut is a 1x1 conv of the *activated* input, as in the authors' code.
class WideBlockImpl : public torch::nn::Module {
 public:
  WideBlockImpl(int64_t in, int64_t out, int64_t stride)
      : bn1(register_module("bn1", batch_norm(in))),
        conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn2(register_module("bn2", batch_norm(out))),
        conv2(register_module("conv2", conv3x3(out, out))) {
    if (stride != 1 || in != out) shortcut = register_module("shortcut", conv1x1(in, out, stride));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor a = torch::relu(bn1(x));
    at::Tensor y = conv2(torch::relu(bn2(conv1(a))));
    return y + (shortcut ? shortcut(a) : x);
  }
  torch::nn::BatchNorm2d bn1;
  Conv conv1;
  torch::nn::BatchNorm2d bn2;
  Conv conv2;
  Conv shortcut{nullptr};
};
TORCH_MODULE(WideBlock);

class WideResNetImpl : public ZooModel {
 public:
  WideResNetImpl(const ModelSpec& spec, int64_t depth, int64_t widen) : ZooModel(spec) {
    const int64_t n = (depth - 4) / 6;
    stem_ = register_module("stem", conv3x3(spec.in_channels, 16));
    int64_t in = 16;
    for (int g = 0; g < 3; ++g) {
      const int64_t out = (16 << g) * widen;
      torch::nn::Sequential group;
      for (int64_t b = 0; b < n; ++b) {
        group->push_back(WideBlock(in, out, (b == 0 && g > 0) ? 2 : 1));
        in = out;
      }
      groups_.push_back(register_module("group" + std::to_string(g + 1), group));
      tap_channels_.push_back(out);
    }
    bn_ = register_module("bn", batch_norm(in));
    fc_ = register_module("fc", Linear(in, spec.num_classes));
  }

  Features forward_features(const at::Tensor& x) override {
    Features f;
    at::Tensor h = stem_(normalize(x));
    for (size_t g = 0; g < groups_.size(); ++g) {
      h = groups_[g]->forward(h);
      // Pre-activation: the last group's output is only "finished" after the final BN-ReLU.
      if (g + 1 == groups_.size()) h = torch::relu(bn_(h));
      f.taps.push_back(h);
    }
    f.logits = classify(fc_, h);
    return f;
  }
  std::vector<int64_t> tap_channels() const override { return tap_channels_; }

 private:
  Conv stem_{nullptr};
  std::vector<torch::nn::Sequential> groups_;
  torch::nn::BatchNorm2d bn_{nullptr};
  std::vector<int64_t> tap_channels_;
  Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<ZooModel> build_wrn(const ModelSpec& spec, int64_t depth, int64_t widen) {
  return std::make_shared<WideResNetImpl>(spec, depth, widen);
}

}  // namespace kdaug::models::detail
