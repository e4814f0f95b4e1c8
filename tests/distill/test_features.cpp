// FitNets hints and attention transfer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/features.h"

namespace kdaug::distill {
namespace {

TEST(Attention, MapIsTheNormalisedChannelMeanOfSquares) {
  // One sample, 2 channels, 1x2 spatial: squares (1, 4) and (9, 0) -> means (5, 2).
  const at::Tensor f = torch::tensor({1.0, -2.0, 3.0, 0.0}, torch::kDouble).view({1, 2, 1, 2});
  const at::Tensor a = attention_map(f);
  const double n = std::sqrt(25.0 + 4.0);
  EXPECT_NEAR(a[0][0].item<double>(), 5.0 / n, 1e-12);
  EXPECT_NEAR(a[0][1].item<double>(), 2.0 / n, 1e-12);
  // p = 1: means of |f| are (2, 1).
  const at::Tensor a1 = attention_map(f, 1.0);
  EXPECT_NEAR(a1[0][0].item<double>(), 2.0 / std::sqrt(5.0), 1e-12);
}

TEST(Attention, LossMatchesHandValueAndIgnoresChannelCounts) {
  // Student: 1 channel; teacher: 3 channels with the same spatial energy pattern up to scale.
  const at::Tensor s = torch::tensor({1.0, 0.0, 0.0, 1.0}, torch::kDouble).view({1, 1, 2, 2});
  const at::Tensor t = torch::tensor({2.0, 0.0, 0.0, 0.0}, torch::kDouble).view({1, 1, 2, 2}).repeat({1, 3, 1, 1});
  // a_s = (1,0,0,1)/sqrt2, a_t = (1,0,0,0): squared diffs (1/sqrt2-1)^2 + 0 + 0 + 1/2, mean of 4.
  const double expected = (std::pow(1 / std::sqrt(2.0) - 1, 2) + 0.5) / 4;
  EXPECT_NEAR(at_loss({s}, {t}).item<double>(), expected, 1e-12);
  EXPECT_NEAR(at_loss({s * 3}, {s.repeat({1, 5, 1, 1})}).item<double>(), 0.0, 1e-12);
}

TEST(Attention, SumsOverPairsAndPoolsToTheSmallerSize) {
  at::Generator gen = make_generator(3);
  const at::Tensor s0 = at::randn({2, 3, 4, 4}, gen, torch::kDouble);
  const at::Tensor t0 = at::randn({2, 5, 8, 8}, gen, torch::kDouble);
  const at::Tensor s1 = at::randn({2, 3, 2, 2}, gen, torch::kDouble);
  const at::Tensor t1 = at::randn({2, 6, 2, 2}, gen, torch::kDouble);
  // Teacher pair 0 at 8x8 is compared with the student at 4x4 via 2x2 average pooling of |f|^2.
  const at::Tensor pooled = torch::avg_pool2d((t0 * t0).mean(1, true), 2);
  const at::Tensor as = attention_map(s0);
  const at::Tensor at_ = torch::nn::functional::normalize(
      pooled.flatten(1), torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
  const double pair0 = (as - at_).pow(2).mean().item<double>();
  const double pair1 = (attention_map(s1) - attention_map(t1)).pow(2).mean().item<double>();
  EXPECT_NEAR(at_loss({s0, s1}, {t0, t1}).item<double>(), pair0 + pair1, 1e-12);
}

TEST(Attention, GradientMatchesFiniteDifferences) {
  at::Generator gen = make_generator(5);
  const at::Tensor s = at::randn({2, 2, 4, 4}, gen, torch::kDouble);
  const at::Tensor t = at::randn({2, 3, 2, 2}, gen, torch::kDouble);
  testing::expect_gradient_matches([&](const at::Tensor& x) { return at_loss({x}, {t}, 2.0); }, s);
  testing::expect_gradient_matches([&](const at::Tensor& x) { return at_loss({x}, {t}, 3.0); }, s);
}

TEST(Attention, RejectsBadArguments) {
  const at::Tensor f = torch::zeros({1, 2, 2, 2});
  EXPECT_THROW(at_loss({f}, {f, f}), kdaug::Error);
  EXPECT_THROW(at_loss({}, {}), kdaug::Error);
  try {
    at_loss({f}, {f}, -1.0);
    ADD_FAILURE();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got -1"), std::string::npos) << e.what();
  }
}

TEST(Hint, IdentityAdapterOnEqualFeaturesGivesZero) {
  Hint hint(HintOptions(3, 3));
  {
    torch::NoGradGuard g;
    hint->adapter->weight.copy_(torch::eye(3).view({3, 3, 1, 1}));
    hint->adapter->bias.zero_();
  }
  at::Generator gen = make_generator(1);
  const at::Tensor f = at::randn({2, 3, 4, 4}, gen);
  EXPECT_NEAR(hint->forward(f, f).item<double>(), 0.0, 1e-7);
  // A constant offset of 1 everywhere gives MSE 1.
  EXPECT_NEAR(hint->forward(f, f + 1).item<double>(), 1.0, 1e-6);
}

TEST(Hint, ResizesAndTrainsOnlyTheAdapterAndStudent) {
  Hint hint(HintOptions(2, 5));
  at::Generator gen = make_generator(2);
  const at::Tensor s = at::randn({2, 2, 4, 4}, gen).requires_grad_(true);
  const at::Tensor t = at::randn({2, 5, 8, 8}, gen).requires_grad_(true);
  const at::Tensor loss = hint->forward(s, t);
  loss.backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
  EXPECT_TRUE(hint->adapter->weight.grad().defined());
  EXPECT_EQ(hint->parameters().size(), 2u);
  EXPECT_THROW(hint->forward(at::zeros({2, 3, 4, 4}), t), c10::Error);
  EXPECT_THROW(Hint(HintOptions(0, 5)), kdaug::Error);
}

TEST(Hint, LearnsAChannelMapping) {
  // Teacher features are a fixed linear map of the student's: the adapter should fit it.
  at::Generator gen = make_generator(4);
  Hint hint(HintOptions(2, 3));
  const at::Tensor m = at::randn({3, 2, 1, 1}, gen);
  torch::optim::SGD opt(hint->parameters(), torch::optim::SGDOptions(0.1));
  const at::Tensor s = at::randn({8, 2, 4, 4}, gen);
  const at::Tensor t = torch::conv2d(s, m);
  const double first = hint->forward(s, t).item<double>();
  for (int i = 0; i < 200; ++i) {
    opt.zero_grad();
    hint->forward(s, t).backward();
    opt.step();
  }
  EXPECT_LT(hint->forward(s, t).item<double>(), first * 0.01);
}

}  // namespace
}  // namespace kdaug::distill
