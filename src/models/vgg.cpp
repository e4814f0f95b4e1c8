// VGG with BatchNorm (Simonyan & Zisserman 2015) for small inputs: the classifier is global
// average pooling + one linear layer, as in the CIFAR KD literature (e.g. CRD's vgg*_bn).
#include <torch/torch.h>

#include <cmath>

#include "layers.h"

namespace kdaug::models::detail {
namespace {

// Conv widths of the five blocks; a max-pool follows each block when the input is big enough.
std::vector<std::vector<int64_t>> vgg_blocks(int64_t depth) {
  switch (depth) {
    case 11: return {{64}, {128}, {256, 256}, {512, 512}, {512, 512}};
    case 13: return {{64, 64}, {128, 128}, {256, 256}, {512, 512}, {512, 512}};
    case 16: return {{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
    case 19: return {{64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}};
    default: TORCH_CHECK(false, "no VGG of depth ", depth);
  }
}

class VggImpl : public ZooModel {
 public:
  VggImpl(const ModelSpec& spec, int64_t depth) : ZooModel(spec) {
    int64_t in = spec.in_channels;
    int64_t h = spec.height, w = spec.width;
    const auto blocks = vgg_blocks(depth);
    for (size_t b = 0; b < blocks.size(); ++b) {
      torch::nn::Sequential block;
      for (int64_t width : blocks[b]) {
        const int64_t out = std::max<int64_t>(1, std::llround(width * spec.width_mult));
        block->push_back(conv3x3(in, out));
        block->push_back(batch_norm(out));
        block->push_back(torch::nn::ReLU());
        in = out;
      }
      blocks_.push_back(register_module("block" + std::to_string(b + 1), block));
      tap_channels_.push_back(in);
      // A 2x2 pool needs at least 2 pixels in both directions; smaller inputs skip the
      // remaining pools (28x28: 28->14->7->3->1, the fifth is skipped).
      const bool pool = std::min(h, w) >= 2;
      pool_.push_back(pool);
      if (pool) {
        h /= 2;
        w /= 2;
      }
    }
    fc_ = register_module("fc", Linear(in, spec.num_classes));
  }

  Features forward_features(const at::Tensor& x) override {
    Features f;
    at::Tensor h = normalize(x);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      h = blocks_[b]->forward(h);
      f.taps.push_back(h);
      if (pool_[b]) h = torch::max_pool2d(h, {2, 2}, {2, 2});
    }
    f.logits = classify(fc_, h);
    return f;
  }
  std::vector<int64_t> tap_channels() const override { return tap_channels_; }

 protected:
  int64_t fold_conv_bn() override {
    int64_t n = 0;
    for (size_t b = 0; b < blocks_.size(); ++b) {
      blocks_[b] = replace_module("block" + std::to_string(b + 1), fold_sequential(blocks_[b], &n));
    }
    return n;
  }

 private:
  std::vector<torch::nn::Sequential> blocks_;
  std::vector<bool> pool_;
  std::vector<int64_t> tap_channels_;
  Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<ZooModel> build_vgg(const ModelSpec& spec, int64_t depth) {
  return std::make_shared<VggImpl>(spec, depth);
}

}  // namespace kdaug::models::detail
