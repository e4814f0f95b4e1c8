// Tiny classifiers for the eval tests (no dependency on the model zoo).
#pragma once

#include <torch/torch.h>

#include "kdaug/core/rng.h"
#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::eval::testing {

inline models::ModelSpec tiny_spec(int64_t c, int64_t h, int64_t w, int64_t k, const std::string& name = "tiny") {
  models::ModelSpec s;
  s.name = name;
  s.in_channels = c;
  s.height = h;
  s.width = w;
  s.num_classes = k;
  s.mean.assign(static_cast<size_t>(c), 0.0);
  s.std.assign(static_cast<size_t>(c), 1.0);
  return s;
}

// logits = W * flatten(x) + b (no normalisation: mean 0, std 1).
class LinearClassifier : public models::ClassifierImpl {
 public:
  LinearClassifier(int64_t c, int64_t h, int64_t w, int64_t k, uint64_t seed = 0)
      : ClassifierImpl(tiny_spec(c, h, w, k, "linear")) {
    auto gen = make_generator(seed);
    weight = register_parameter("weight", at::randn({k, c * h * w}, gen, at::kFloat) * 0.1);
    bias = register_parameter("bias", at::randn({k}, gen, at::kFloat) * 0.1);
  }
  at::Tensor forward(const at::Tensor& x) override {
    return at::addmm(bias, x.reshape({x.size(0), -1}), weight.t());
  }
  models::Features forward_features(const at::Tensor& x) override { return {{x}, forward(x)}; }
  std::vector<int64_t> tap_channels() const override { return {spec_.in_channels}; }
  at::Tensor weight, bias;
};

// Returns fixed logits per sample: the input's first pixel (an integer index) picks a row of
// `table` [N,K]. Lets tests feed exactly chosen logits through the model-based API.
class TableClassifier : public models::ClassifierImpl {
 public:
  explicit TableClassifier(at::Tensor table) : ClassifierImpl(tiny_spec(1, 1, 1, table.size(1), "table")) {
    table_ = register_buffer("table", table.to(at::kFloat));
  }
  at::Tensor forward(const at::Tensor& x) override {
    auto idx = (x.reshape({x.size(0), -1}).select(1, 0) * 255.0).round().to(at::kLong);
    return table_.index_select(0, idx);
  }
  models::Features forward_features(const at::Tensor& x) override { return {{x}, forward(x)}; }
  std::vector<int64_t> tap_channels() const override { return {1}; }
  at::Tensor table_;
};

// A dataset whose i-th image is the single pixel value i (so TableClassifier returns row i).
inline data::Dataset index_dataset(const at::Tensor& labels, int64_t k) {
  data::Dataset d;
  const int64_t n = labels.size(0);
  d.images = at::arange(n, at::kLong).to(at::kByte).view({n, 1, 1, 1});
  d.labels = labels.to(at::kLong);
  d.num_classes = k;
  d.name = "index";
  return d;
}

// A small CNN that trains in a second on synthetic data.
class SmallCnn : public models::ClassifierImpl {
 public:
  SmallCnn(int64_t c, int64_t h, int64_t w, int64_t k) : ClassifierImpl(tiny_spec(c, h, w, k, "small_cnn")) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, 8, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(8 * (h / 2) * (w / 2), k));
  }
  at::Tensor forward(const at::Tensor& x) override {
    auto y = torch::max_pool2d(torch::relu(conv->forward(x)), 2);
    return fc->forward(y.flatten(1));
  }
  models::Features forward_features(const at::Tensor& x) override { return {{x}, forward(x)}; }
  std::vector<int64_t> tap_channels() const override { return {spec_.in_channels}; }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};

// A synthetic 4-class problem: class = position of a bright square (quadrant) on a dark
// background with a little noise; uint8 [N,1,h,w].
inline data::Dataset quadrant_dataset(int64_t n, int64_t h, int64_t w, uint64_t seed) {
  auto gen = make_generator(seed);
  auto labels = at::randint(4, {n}, gen, at::kLong);
  auto img = at::rand({n, 1, h, w}, gen, at::kFloat) * 0.2;
  auto acc = img.accessor<float, 4>();
  auto lab = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = (lab[i] / 2) * (h / 2) + 1, x0 = (lab[i] % 2) * (w / 2) + 1;
    for (int64_t y = y0; y < y0 + h / 2 - 2; ++y)
      for (int64_t x = x0; x < x0 + w / 2 - 2; ++x) acc[i][0][y][x] = 0.6f + 0.4f * acc[i][0][y][x];
  }
  data::Dataset d;
  d.images = (img * 255).round().clamp(0, 255).to(at::kByte);
  d.labels = labels;
  d.num_classes = 4;
  d.name = "quadrants";
  d.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  return d;
}

// A few epochs of SGD on a dataset (seeded), leaving the model in eval mode.
inline void quick_train(models::ClassifierImpl& model, const data::Dataset& d, int epochs, uint64_t seed) {
  torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto gen = make_generator(seed);
  model.train();
  const int64_t n = d.size(), bs = 32;
  for (int e = 0; e < epochs; ++e) {
    auto order = at::randperm(n, gen, at::kLong);
    for (int64_t i = 0; i < n; i += bs) {
      auto idx = order.narrow(0, i, std::min(bs, n - i));
      auto x = d.images.index_select(0, idx).to(at::kFloat) / 255.0;
      auto y = d.labels.index_select(0, idx);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model.forward(x), y);
      loss.backward();
      opt.step();
    }
  }
  model.eval();
}

}  // namespace kdaug::eval::testing
