// Model zoo: shapes, parameter and MAC counts against hand formulas, taps, seeding, bad specs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/models/registry.h"

namespace km = kdaug::models;

namespace {

km::ModelSpec spec_of(const std::string& name, int64_t c = 1, int64_t h = 28, int64_t w = 28, int64_t classes = 10) {
  km::ModelSpec s;
  s.name = name;
  s.in_channels = c;
  s.height = h;
  s.width = w;
  s.num_classes = classes;
  s.mean.assign(c, 0.5);
  s.std.assign(c, 0.25);
  return s;
}

at::Tensor images(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed = 1) {
  at::Generator gen = kdaug::make_generator(seed);
  return torch::rand({b, c, h, w}, gen, torch::kFloat);
}

// Expects `fn` to throw kdaug::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no kdaug::Error thrown; expected one mentioning " << *parts.begin();
  } catch (const kdaug::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

// He et al.'s CIFAR ResNet counted layer by layer: conv k*k*cin*cout (no bias), BN 2*c,
// option-B shortcut (1x1 conv + BN) where the shape changes, linear in*out + out.
int64_t resnet_params(int64_t depth, int64_t c, int64_t classes) {
  const int64_t n = (depth - 2) / 6;
  int64_t total = 9 * c * 16 + 2 * 16;
  int64_t in = 16;
  for (int s = 0; s < 3; ++s) {
    const int64_t w = 16 << s;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      total += 9 * in * w + 2 * w + 9 * w * w + 2 * w;
      if (stride != 1 || in != w) total += in * w + 2 * w;
      in = w;
    }
  }
  return total + 64 * classes + classes;
}

// WRN-d-k: pre-activation blocks (BN on the block input), 1x1 shortcut without BN.
int64_t wrn_params(int64_t depth, int64_t k, int64_t c, int64_t classes) {
  const int64_t n = (depth - 4) / 6;
  int64_t total = 9 * c * 16;
  int64_t in = 16;
  for (int g = 0; g < 3; ++g) {
    const int64_t w = (16 << g) * k;
    for (int64_t b = 0; b < n; ++b) {
      total += 2 * in + 9 * in * w + 2 * w + 9 * w * w;
      if (in != w || (b == 0 && g > 0)) total += in * w;
      in = w;
    }
  }
  return total + 2 * in + in * classes + classes;
}

}  // namespace

TEST(Zoo, EveryModelGivesLogitsAndTapsAtTwoInputShapes) {
  torch::NoGradGuard no_grad;
  for (const auto& name : km::model_names()) {
    // wrn_28_10 (36M parameters, 5 GMACs at 32x32) would dominate the suite: one small input.
    const bool huge = name == "wrn_28_10";
    const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes =
        huge ? std::vector<std::tuple<int64_t, int64_t, int64_t>>{{3, 8, 100}}
             : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 28, 10}, {3, 32, 100}};
    for (const auto& [c, hw, classes] : shapes) {
      SCOPED_TRACE(name + " at " + std::to_string(c) + "x" + std::to_string(hw));
      auto model = km::make_model(spec_of(name, c, hw, hw, classes), 5);
      model->eval();
      const at::Tensor x = images(1, c, hw, hw);
      const km::Features f = model->forward_features(x);
      EXPECT_EQ(f.logits.sizes(), (std::vector<int64_t>{1, classes}));
      EXPECT_TRUE(torch::isfinite(f.logits).all().item<bool>());
      const auto channels = model->tap_channels();
      ASSERT_EQ(f.taps.size(), channels.size());
      ASSERT_GE(f.taps.size(), 3u);
      for (size_t i = 0; i < f.taps.size(); ++i) {
        EXPECT_EQ(f.taps[i].dim(), 4);
        EXPECT_EQ(f.taps[i].size(0), 1);
        EXPECT_EQ(f.taps[i].size(1), channels[i]) << "tap " << i;
        if (i > 0) EXPECT_LE(f.taps[i].size(2), f.taps[i - 1].size(2)) << "taps must be in network order";
      }
      EXPECT_TRUE(torch::equal(model->forward(x), f.logits));
    }
  }
}

TEST(Zoo, SmallestAndNonSquareInputsWork) {
  for (const std::string name : {"resnet8", "vgg11_bn", "mobilenetv2", "wrn_10_1"}) {
    SCOPED_TRACE(name);
    auto model = km::make_model(spec_of(name, 2, 8, 13, 3), 1);
    const at::Tensor y = model->forward(images(2, 2, 8, 13));  // training mode: BN over the batch
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(Zoo, ResNetParameterCountsMatchTheFormula) {
  EXPECT_EQ(resnet_params(8, 1, 10), 77754);  // summed by hand: 144+32 + 4672 + 14528 + 57728 + 650
  for (int64_t depth : {8, 14, 20, 32, 56}) {
    SCOPED_TRACE(depth);
    auto model = km::make_model(spec_of("resnet" + std::to_string(depth)));
    EXPECT_EQ(km::count_parameters(*model), resnet_params(depth, 1, 10));
  }
  auto r8c = km::make_model(spec_of("resnet8", 3, 32, 32, 100));
  EXPECT_EQ(km::count_parameters(*r8c), resnet_params(8, 3, 100));
  // The benchmark's quoted sizes.
  EXPECT_NEAR(resnet_params(20, 1, 10), 272e3, 3e3);
  EXPECT_NEAR(resnet_params(56, 1, 10), 855e3, 5e3);
}

TEST(Zoo, OtherFamiliesHaveTheQuotedSizes) {
  EXPECT_NEAR(static_cast<double>(km::count_parameters(*km::make_model(spec_of("vgg16_bn")))), 14.7e6, 0.1e6);
  EXPECT_NEAR(static_cast<double>(km::count_parameters(*km::make_model(spec_of("mobilenetv2")))), 2.2e6, 0.1e6);
  const int64_t wrn = km::count_parameters(*km::make_model(spec_of("wrn_16_2")));
  EXPECT_EQ(wrn, wrn_params(16, 2, 1, 10));
  EXPECT_NEAR(static_cast<double>(wrn), 0.7e6, 0.02e6);
  EXPECT_EQ(km::count_parameters(*km::make_model(spec_of("wrn_22_3", 3, 32, 32, 100))), wrn_params(22, 3, 3, 100));
}

TEST(Zoo, WidthMultiplierScalesVggAndMobileNet) {
  auto half = spec_of("vgg11_bn");
  half.width_mult = 0.5;
  auto vgg = km::make_model(half);
  EXPECT_EQ(vgg->tap_channels(), (std::vector<int64_t>{32, 64, 128, 256, 256}));
  EXPECT_LT(km::count_parameters(*vgg), km::count_parameters(*km::make_model(spec_of("vgg11_bn"))) / 3);
  auto mb = spec_of("mobilenetv2");
  mb.width_mult = 0.5;
  auto small = km::make_model(mb);
  EXPECT_EQ(small->tap_channels(), (std::vector<int64_t>{16, 16, 48, 1280}));  // divisible by 8
  EXPECT_LT(km::count_parameters(*small), km::count_parameters(*km::make_model(spec_of("mobilenetv2"))));
}

TEST(Zoo, VggPoolsOnlyWhileTheInputAllows) {
  torch::NoGradGuard no_grad;
  auto model = km::make_model(spec_of("vgg13_bn"));
  model->eval();
  auto f = model->forward_features(images(1, 1, 28, 28));
  // Taps are taken before each pool: 28 -> 14 -> 7 -> 3 -> 1, and the fifth pool is skipped.
  const std::vector<int64_t> sizes{28, 14, 7, 3, 1};
  ASSERT_EQ(f.taps.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) EXPECT_EQ(f.taps[i].size(2), sizes[i]);
  auto small = km::make_model(spec_of("vgg13_bn", 1, 8, 8));
  small->eval();
  auto g = small->forward_features(images(1, 1, 8, 8));
  EXPECT_EQ(g.taps.back().size(2), 1);  // 8 -> 4 -> 2 -> 1, then no more pools
}

TEST(Zoo, MacsOfResNet8ByHand) {
  const int64_t stem = 28 * 28 * 9 * 1 * 16;
  const int64_t stage1 = 2 * 28 * 28 * 9 * 16 * 16;
  const int64_t stage2 = 14 * 14 * 9 * 16 * 32 + 14 * 14 * 9 * 32 * 32 + 14 * 14 * 16 * 32;
  const int64_t stage3 = 7 * 7 * 9 * 32 * 64 + 7 * 7 * 9 * 64 * 64 + 7 * 7 * 32 * 64;
  const int64_t fc = 64 * 10;
  const km::ModelCost cost = km::model_cost(spec_of("resnet8"));
  EXPECT_EQ(cost.macs, stem + stage1 + stage2 + stage3 + fc);
  EXPECT_EQ(cost.params, 77754);
}

TEST(Zoo, MacsOfMobileNetV2CountDepthwiseConvsPerGroup) {
  // Independent walk over the architecture: a depthwise 3x3 conv costs H*W*9*channels.
  int64_t h = 28, w = 28, in = 32;
  int64_t macs = h * w * 9 * 1 * 32;
  const int64_t cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& g : cfg) {
    for (int64_t i = 0; i < g[2]; ++i) {
      const int64_t stride = i == 0 ? g[3] : 1, hidden = in * g[0];
      if (g[0] != 1) macs += h * w * in * hidden;
      h = (h - 1) / stride + 1;
      w = (w - 1) / stride + 1;
      macs += h * w * 9 * hidden + h * w * hidden * g[1];
      in = g[1];
    }
  }
  macs += h * w * in * 1280 + 1280 * 10;
  EXPECT_EQ(km::model_cost(spec_of("mobilenetv2")).macs, macs);
}

TEST(Zoo, SameSeedSameParametersDifferentSeedDifferent) {
  auto a = km::make_model(spec_of("resnet8"), 42);
  auto b = km::make_model(spec_of("resnet8"), 42);
  auto c = km::make_model(spec_of("resnet8"), 43);
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_differs = false;
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
    if (!torch::equal(item.value(), pc[item.key()])) any_differs = true;
  }
  EXPECT_TRUE(any_differs);
}

TEST(Zoo, InitialisationFollowsKaimingAndBnRules) {
  auto model = km::make_model(spec_of("resnet8"), 9);
  const auto params = model->named_parameters();
  // stage3's second conv: 64 out, 3x3 => fan_out 576, std sqrt(2/576); 36864 draws.
  const at::Tensor w = params["stage3.0.conv2.weight"];
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 576.0), 0.03 * std::sqrt(2.0 / 576.0));
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01);
  EXPECT_TRUE(torch::equal(params["stem_bn.weight"], torch::ones({16})));
  EXPECT_TRUE(torch::equal(params["stem_bn.bias"], torch::zeros({16})));
  const at::Tensor fc = params["fc.weight"];
  EXPECT_LE(fc.abs().max().item<double>(), 1.0 / 8.0);  // uniform(+-1/sqrt(64))
}

TEST(Zoo, NormalisesItsOwnInputPerChannel) {
  torch::NoGradGuard no_grad;
  auto spec = spec_of("resnet8", 2);
  spec.mean = {0.2, 0.7};
  spec.std = {0.5, 0.1};
  auto plain = spec;
  plain.mean = {0.0, 0.0};
  plain.std = {1.0, 1.0};
  auto a = km::make_model(spec, 3), b = km::make_model(plain, 3);
  a->eval();
  b->eval();
  const at::Tensor x = images(2, 2, 28, 28);
  const at::Tensor mean = torch::tensor({0.2, 0.7}, torch::kFloat).view({1, 2, 1, 1});
  const at::Tensor std = torch::tensor({0.5, 0.1}, torch::kFloat).view({1, 2, 1, 1});
  EXPECT_TRUE(torch::allclose(a->forward(x), b->forward((x - mean) / std), 1e-4, 1e-5));
  // The normalisation travels with the weights (buffers).
  const auto buffers = a->named_buffers();
  EXPECT_TRUE(buffers.contains("input_mean"));
  EXPECT_TRUE(buffers.contains("input_std"));
  expect_error([&] { a->forward(images(1, 3, 28, 28)); }, {"resnet8", "[1, 3, 28, 28]"});
}

TEST(Zoo, GradientsReachEveryParameter) {
  auto model = km::make_model(spec_of("mobilenetv2", 1, 8, 8), 2);
  model->forward(images(2, 1, 8, 8)).sum().backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
}

TEST(Zoo, NamesAreRejectedWithTheKnownList) {
  expect_error([] { km::make_model(spec_of("resnet9")); }, {"'resnet9'", "6n+2", "known: resnet8, resnet14"});
  expect_error([] { km::make_model(spec_of("resnet2")); }, {"'resnet2'", "got 2"});
  expect_error([] { km::make_model(spec_of("alexnet")); }, {"unknown model 'alexnet'", "mobilenetv2", "wrn_16_2"});
  expect_error([] { km::make_model(spec_of("vgg12_bn")); }, {"'vgg12_bn'", "got 12"});
  expect_error([] { km::make_model(spec_of("vgg16")); }, {"unknown model 'vgg16'"});
  expect_error([] { km::make_model(spec_of("wrn_15_2")); }, {"'wrn_15_2'", "6n+4", "got 15"});
  expect_error([] { km::make_model(spec_of("wrn_16_0")); }, {"'wrn_16_0'", "got 0"});
  expect_error([] { km::make_model(spec_of("wrn_16")); }, {"unknown model 'wrn_16'"});
  expect_error([] { km::make_model(spec_of("resnet99999999999999999")); }, {"unknown model"});
  EXPECT_NO_THROW(km::check_model_spec(spec_of("resnet26")));
  EXPECT_NO_THROW(km::check_model_spec(spec_of("wrn_40_4")));
}

TEST(Zoo, BadSpecFieldsAreRejectedNamingFieldAndValue) {
  auto bad = [](auto mutate, std::initializer_list<std::string> parts) {
    auto s = spec_of("resnet8");
    mutate(s);
    expect_error([&] { km::make_model(s); }, parts);
    expect_error([&] { km::model_cost(s); }, parts);
  };
  bad([](km::ModelSpec& s) { s.in_channels = 0; }, {"in_channels", "got 0"});
  bad([](km::ModelSpec& s) { s.num_classes = 1; }, {"num_classes", "got 1"});
  bad([](km::ModelSpec& s) { s.height = 7; }, {"height", "got 7"});
  bad([](km::ModelSpec& s) { s.width = -3; }, {"width", "got -3"});
  bad([](km::ModelSpec& s) { s.width_mult = 0; }, {"width_mult", "got 0"});
  bad([](km::ModelSpec& s) { s.width_mult = std::numeric_limits<double>::quiet_NaN(); }, {"width_mult", "nan"});
  bad([](km::ModelSpec& s) { s.width_mult = std::numeric_limits<double>::infinity(); }, {"width_mult", "inf"});
  bad([](km::ModelSpec& s) { s.width_mult = 0.5; }, {"width_mult", "0.5", "resnet8"});
  bad([](km::ModelSpec& s) { s.mean = {0.1, 0.2, 0.3}; }, {"mean has 3 entries", "in_channels is 1"});
  bad([](km::ModelSpec& s) { s.std = {}; }, {"std has 0 entries"});
  bad([](km::ModelSpec& s) { s.std = {0.0}; }, {"std[0]", "got 0"});
  auto mb = spec_of("mobilenetv2");
  mb.width_mult = -1;
  expect_error([&] { km::make_model(mb); }, {"width_mult", "got -1"});
}

TEST(Zoo, SpecJsonRoundTripAndErrors) {
  auto s = spec_of("vgg13_bn", 3, 32, 30, 100);
  s.width_mult = 0.25;
  const km::ModelSpec r = km::ModelSpec::from_json(s.to_json());
  EXPECT_EQ(r.to_json(), s.to_json());
  EXPECT_EQ(r.width, 30);
  EXPECT_EQ(r.mean, s.mean);
  const km::ModelSpec d = km::ModelSpec::from_json({{"name", "resnet8"}});
  EXPECT_EQ(d.to_json(), (km::ModelSpec{"resnet8"}.to_json()));
  expect_error([] { km::ModelSpec::from_json({{"in_channels", 1}}); }, {"missing field 'name'"});
  expect_error([] { km::ModelSpec::from_json({{"name", "resnet8"}, {"num_class", 10}}); },
               {"unknown field 'num_class'"});
  expect_error([] { km::ModelSpec::from_json({{"name", "resnet8"}, {"height", "big"}}); }, {"'height'", "\"big\""});
  expect_error([] { km::ModelSpec::from_json({{"name", "resnet8"}, {"height", 2.5}}); }, {"'height'", "2.5"});
  expect_error([] { km::ModelSpec::from_json({{"name", "resnet8"}, {"mean", "x"}}); }, {"'mean'"});
  expect_error([] { km::ModelSpec::from_json(nlohmann::json::array()); }, {"JSON object"});
}

TEST(Zoo, ModelNamesAreCanonicalAndBuildable) {
  const auto names = km::model_names();
  for (const std::string expected : {"resnet8", "resnet20", "resnet56", "resnet110", "vgg11_bn", "vgg13_bn",
                                     "vgg16_bn", "mobilenetv2", "wrn_16_2", "wrn_16_4", "wrn_28_10", "wrn_40_2"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const auto& n : names) EXPECT_NO_THROW(km::check_model_spec(spec_of(n))) << n;
}

// BatchNorm folding (frozen teachers): the folded model gives the eval-mode model's outputs,
// its BatchNorms are really skipped (poisoning their statistics afterwards changes nothing),
// and a second fold folds nothing. Pre-activation WRN has no conv-then-BN pair to fold.
TEST(Zoo, BatchNormFoldingKeepsOutputsAndSkipsTheBatchNorms) {
  torch::NoGradGuard no_grad;
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"resnet8", 1 + 3 * 2 + 2}, {"resnet20", 1 + 9 * 2 + 2}, {"vgg11_bn", 8}, {"mobilenetv2", -1}, {"wrn_16_2", 0}};
  for (const auto& [name, pairs] : cases) {
    SCOPED_TRACE(name);
    auto model = km::make_model(spec_of(name, 3, 16, 16), 7);
    // Non-trivial statistics and affine parameters, as after training.
    at::Generator gen = kdaug::make_generator(3);
    for (auto& b : model->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.5, 0.5, gen);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0, gen);
    }
    for (auto& p : model->named_parameters()) {
      if (p.key().find("bn") != std::string::npos || p.value().dim() == 1) p.value().uniform_(0.5, 1.5, gen);
    }
    model->eval();
    const at::Tensor x = images(4, 3, 16, 16, 9);
    const km::Features before = model->forward_features(x);
    const int64_t folded = model->fold_batch_norm();
    if (pairs >= 0) {
      EXPECT_EQ(folded, pairs);
    } else {
      EXPECT_GT(folded, 20);  // mobilenetv2: stem, head and 2-3 per inverted residual block
    }
    EXPECT_EQ(model->fold_batch_norm(), 0);
    if (folded > 0) {
      // Every remaining BatchNorm was folded: poisoning them must not reach the output.
      for (auto& b : model->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().fill_(std::nan(""));
      }
    }
    const km::Features after = model->forward_features(x);
    const double scale = before.logits.abs().max().item<double>();
    EXPECT_LT((after.logits - before.logits).abs().max().item<double>(), 1e-4 * scale + 1e-5);
    ASSERT_EQ(after.taps.size(), before.taps.size());
    for (size_t i = 0; i < after.taps.size(); ++i) {
      EXPECT_TRUE(torch::allclose(after.taps[i], before.taps[i], 1e-4, 1e-4)) << "tap " << i;
    }
    for (const auto& p : model->parameters()) EXPECT_FALSE(p.requires_grad());
  }
}

TEST(Zoo, LogitsStayFp32UnderBf16Autocast) {
  // Mixed precision: the convolutions run in bf16, the classifier head in fp32 (logits are not
  // rounded to bf16's 8-bit mantissa before the losses and soft labels use them).
  torch::NoGradGuard no_grad;
  for (const std::string name : {"resnet8", "vgg11_bn", "mobilenetv2", "wrn_16_2"}) {
    SCOPED_TRACE(name);
    auto model = km::make_model(spec_of(name, 3, 16, 16), 5);
    model->eval();
    const at::Tensor x = images(8, 3, 16, 16, 2);
    const at::Tensor fp32 = model->forward(x);
    km::Features mixed;
    {
      kdaug::compat::AutocastGuard amp(true, c10::Device(c10::kCPU));
      mixed = model->forward_features(x);
    }
    EXPECT_EQ(mixed.logits.scalar_type(), torch::kFloat);
    EXPECT_EQ(mixed.taps.back().scalar_type(), torch::kBFloat16);  // the convolutions did run in bf16
    // Close to the fp32 forward, but not bitwise (bf16 convolutions).
    const double scale = fp32.abs().max().item<double>();
    const double diff = (mixed.logits - fp32).abs().max().item<double>();
    EXPECT_LT(diff, 0.1 * scale);
    EXPECT_GT(diff, 0.0);
    // Autocast is still on after the head turned it off for itself.
    kdaug::compat::AutocastGuard amp(true, c10::Device(c10::kCPU));
    model->forward(x);
    EXPECT_TRUE(kdaug::compat::autocast_enabled(false));
  }
}
