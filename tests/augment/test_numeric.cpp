// Numeric properties of the functional ops, the fused pipeline, noise statistics and mixing.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "kdaug/augment/functional.h"
#include "kdaug/augment/mix.h"
#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/core/runtime.h"

namespace ka = kdaug::augment;
namespace F = kdaug::augment::functional;

namespace {

at::Tensor rand_image(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed = 1) {
  auto gen = kdaug::make_generator(seed);
  return torch::rand({b, c, h, w}, gen);
}

TEST(Numeric, FlipTwiceIsIdentity) {
  auto x = rand_image(3, 3, 7, 9);
  EXPECT_TRUE(torch::equal(F::hflip(F::hflip(x)), x));
  EXPECT_TRUE(torch::equal(F::vflip(F::vflip(x)), x));
  EXPECT_TRUE(torch::equal(F::hflip(x).select(3, 0), x.select(3, 8)));
  // Through the pipeline (an exact group: no resampling).
  auto p = ka::Pipeline::from_yaml(YAML::Load("[{hflip: {p: 1}}, {hflip: {p: 1}}, {vflip: {p: 1}}, {vflip: {p: 1}}]"),
                                   "augment");
  auto gen = kdaug::make_generator(0);
  EXPECT_TRUE(torch::equal(p(x, gen), x));
}

TEST(Numeric, RotationZeroIsIdentityAndNinetyIsTransposeFlip) {
  auto x = rand_image(2, 3, 11, 11);
  auto zero = torch::zeros({2});
  EXPECT_TRUE(torch::equal(F::warp_affine(x, F::rotation_inverse(zero), ka::Interp::kBilinear, 0.0), x));
  // Counter-clockwise by 90 degrees (torchvision convention) == torch.rot90(x, 1, [2, 3]).
  auto r90 = F::warp_affine(x, F::rotation_inverse(torch::full({2}, 90.0)), ka::Interp::kBilinear, 0.0);
  auto expect = x.transpose(2, 3).flip({2});
  EXPECT_LT((r90 - expect).abs().max().item<float>(), 1e-5);
  auto r270 = F::warp_affine(x, F::rotation_inverse(torch::full({2}, -90.0)), ka::Interp::kNearest, 0.0);
  EXPECT_TRUE(torch::allclose(r270, x.transpose(2, 3).flip({3})));
}

TEST(Numeric, CropOffsetsLandWhereTheParametersSay) {
  auto x = rand_image(2, 1, 6, 6);
  auto top = torch::tensor({0, 3}, torch::kLong), left = torch::tensor({4, 1}, torch::kLong);
  auto y = F::pad_crop(x, 2, ka::PadMode::kZero, 0.0, top, left, 6, 6);
  // Sample 0: output (i, j) = padded (i, j + 4) = x(i - 2, j + 2).
  EXPECT_TRUE(torch::equal(y[0][0].slice(0, 2, 6).slice(1, 0, 4), x[0][0].slice(0, 0, 4).slice(1, 2, 6)));
  EXPECT_EQ(y[0][0].slice(0, 0, 2).abs().sum().item<float>(), 0.f);   // top rows from the padding
  EXPECT_EQ(y[0][0].slice(1, 4, 6).abs().sum().item<float>(), 0.f);   // right columns from the padding
  // Sample 1: output (i, j) = x(i + 1, j - 1).
  EXPECT_TRUE(torch::equal(y[1][0].slice(0, 0, 5).slice(1, 1, 6), x[1][0].slice(0, 1, 6).slice(1, 0, 5)));
  // Edge padding replicates the border; reflect mirrors without repeating it.
  auto e = F::pad_crop(x, 2, ka::PadMode::kEdge, 0.0, torch::tensor({0, 0}), torch::tensor({0, 0}), 6, 6);
  EXPECT_EQ(e[0][0][0][0].item<float>(), x[0][0][0][0].item<float>());
  auto r = F::pad_crop(x, 2, ka::PadMode::kReflect, 0.0, torch::tensor({0, 0}), torch::tensor({0, 0}), 6, 6);
  EXPECT_EQ(r[0][0][0][0].item<float>(), x[0][0][2][2].item<float>());
  // The fused path (crop as an integer translation inside one grid_sample) agrees.
  auto tx = F::translation_inverse(torch::tensor({-2.0, 1.0}), torch::tensor({2.0, -1.0}));
  auto warped = F::warp_affine(x, tx, ka::Interp::kBilinear, 0.0);
  EXPECT_LT((warped - y).abs().max().item<float>(), 1e-5);
}

TEST(Numeric, FusedPipelineMatchesOpByOp) {
  const char* recipe =
      "[{crop: {padding: 2}}, {rotate: {degrees: 10}}, {scale: {min: 0.9, max: 1.1}}, {hflip: {p: 0.5}},"
      " {shear: {x: 5}}, {translate: {x: 0.05, y: 0.05}}]";
  auto fused = ka::Pipeline::from_yaml(YAML::Load(recipe), "augment");
  // A smooth image: resampling it once or six times differs only by interpolation error.
  auto yy = torch::arange(28, torch::kFloat).view({1, 1, 28, 1}), xx = torch::arange(28, torch::kFloat).view({1, 1, 1, 28});
  auto phase = torch::rand({16, 1, 1, 1}, kdaug::make_generator(9)) * 6;
  auto x = 0.5 + 0.4 * torch::sin(0.25 * xx + 0.15 * yy + phase);
  auto gen = kdaug::make_generator(3);
  ka::PipelineParams used;
  auto y = fused(x, gen, &used);
  // Op by op: the same parameters applied with one resampling each. Only interpolation of
  // interpolated values differs, so compare where every tap of the fused result lies inside.
  at::Tensor z = x;
  for (size_t i = 0; i < fused.size(); ++i) z = fused.ops()[i]->apply(z, used.ops[i]);
  auto diff = (y - z).abs().slice(2, 7, 21).slice(3, 7, 21);  // away from the filled border
  EXPECT_LT(diff.max().item<float>(), 0.02);
  EXPECT_GT((y - x).abs().mean().item<float>(), 0.05);  // and it did transform the images
  // With nearest-free exact ops only the composition is exact: two flips and a crop.
  auto exact = ka::Pipeline::from_yaml(YAML::Load("[{crop: {padding: 2}}, {hflip: {p: 1}}]"), "augment");
  auto g2 = kdaug::make_generator(4);
  ka::PipelineParams u2;
  auto e = exact(x, g2, &u2);
  auto expect = F::hflip(F::pad_crop(x, 2, ka::PadMode::kZero, 0, u2.ops[0].at("top"), u2.ops[0].at("left"), 28, 28));
  EXPECT_TRUE(torch::equal(e, expect));
}

TEST(Numeric, FusedRotationsCompose) {
  // rotate 30 then rotate 60 in one resampling == rotate 90 (a transpose + flip).
  auto x = rand_image(2, 1, 9, 9);
  auto m = F::rotation_inverse(torch::full({2}, 30.0)).bmm(F::rotation_inverse(torch::full({2}, 60.0)));
  auto y = F::warp_affine(x, m, ka::Interp::kBilinear, 0.0);
  EXPECT_LT((y - x.transpose(2, 3).flip({2})).abs().max().item<float>(), 1e-5);
}

TEST(Numeric, FillValueOutsideTheImage) {
  auto x = torch::zeros({1, 1, 8, 8});
  auto y = F::warp_affine(x, F::translation_inverse(torch::tensor({3.0}), torch::tensor({0.0})),
                          ka::Interp::kNearest, 0.5);
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 0.5f);   // shifted right by 3: columns 0..2 filled
  EXPECT_FLOAT_EQ(y[0][0][0][2].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(y[0][0][0][3].item<float>(), 0.0f);
}

TEST(Numeric, NoiseMeanAndStd) {
  auto x = torch::full({4, 3, 64, 64}, 0.5);
  auto seeds = torch::tensor({1, 2, 3, 4}, torch::kLong);
  auto sigma = torch::full({4}, 0.1);
  auto d = F::gaussian_noise(x, sigma, seeds) - x;  // 0.5 +- 5 sigma never clamps
  EXPECT_NEAR(d.mean().item<double>(), 0.0, 0.003);
  EXPECT_NEAR(d.std().item<double>(), 0.1, 0.003);
  // Standard normal: mean 0, std 1, and the tails of a Gaussian.
  auto n = F::hash_normal(torch::tensor({42}, torch::kLong), 200000, x);
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(n.std().item<double>(), 1.0, 0.01);
  EXPECT_NEAR((n.abs() > 1.96).to(torch::kDouble).mean().item<double>(), 0.05, 0.003);
  auto u = F::uniform_noise(x, torch::full({4}, 0.2), seeds) - x;
  EXPECT_NEAR(u.mean().item<double>(), 0.0, 0.003);
  EXPECT_NEAR(u.std().item<double>(), 0.2 / std::sqrt(3.0), 0.003);
  EXPECT_LE(u.abs().max().item<double>(), 0.2 + 1e-6);
  auto sp = F::salt_pepper(x, torch::full({4}, 0.1), seeds);
  EXPECT_NEAR((sp == 0).to(torch::kDouble).mean().item<double>(), 0.05, 0.005);
  EXPECT_NEAR((sp == 1).to(torch::kDouble).mean().item<double>(), 0.05, 0.005);
  auto sk = F::speckle(x, torch::full({4}, 0.2), seeds) - x;
  EXPECT_NEAR(sk.std().item<double>(), 0.5 * 0.2, 0.003);
  // Different seeds give uncorrelated noise; clamping keeps the range.
  auto a = F::hash_normal(torch::tensor({1}, torch::kLong), 100000, x);
  auto b = F::hash_normal(torch::tensor({2}, torch::kLong), 100000, x);
  EXPECT_LT((a * b).mean().abs().item<double>(), 0.02);
  auto big = F::gaussian_noise(x, torch::full({4}, 2.0), seeds);
  EXPECT_GE(big.min().item<float>(), 0.f);
  EXPECT_LE(big.max().item<float>(), 1.f);
}

TEST(Numeric, SameViewsWithOneOrTwoThreads) {
  auto p = ka::Pipeline::from_yaml(
      YAML::Load("[{crop: {padding: 2}}, {rotate: {degrees: 10}}, {gaussian_blur: {sigma: 1}}, {gaussian_noise: {}}]"),
      "augment");
  auto x = rand_image(32, 3, 20, 20);
  kdaug::configure_threads(1);
  auto g1 = kdaug::make_generator(5);
  auto y1 = p(x, g1);
  kdaug::configure_threads(2);
  auto g2 = kdaug::make_generator(5);
  auto y2 = p(x, g2);
  EXPECT_TRUE(torch::equal(y1, y2));
}

TEST(Numeric, PhotometricReferenceValues) {
  auto x = torch::tensor({0.0, 0.2, 0.5, 1.0}).view({1, 1, 2, 2});
  auto one = torch::ones({1});
  EXPECT_TRUE(torch::allclose(F::adjust_brightness(x, one * 0.5), x * 0.5));
  EXPECT_TRUE(torch::allclose(F::adjust_contrast(x, one * 0.0), torch::full_like(x, 0.425)));
  EXPECT_TRUE(torch::allclose(F::adjust_gamma(x, one * 2), x * x));
  EXPECT_TRUE(torch::allclose(F::solarize(x, one * 0.5), torch::tensor({0.0, 0.2, 0.5, 0.0}).view({1, 1, 2, 2})));
  EXPECT_TRUE(torch::allclose(F::invert(x), 1 - x));
  // posterize 1 bit: levels < 128 -> 0, >= 128 -> 128/255.
  EXPECT_TRUE(torch::allclose(F::posterize(x, one),
                              torch::tensor({0.0, 0.0, 128.0 / 255, 128.0 / 255}).view({1, 1, 2, 2})));
  // autocontrast stretches [0.2, 0.6] to [0, 1].
  auto y = torch::tensor({0.2, 0.4, 0.6, 0.6}).view({1, 1, 2, 2});
  EXPECT_TRUE(torch::allclose(F::autocontrast(y), torch::tensor({0.0, 0.5, 1.0, 1.0}).view({1, 1, 2, 2}), 1e-5, 1e-5));
  // Blur keeps a constant image and the mean of a periodic one.
  auto c = torch::full({2, 3, 9, 9}, 0.3);
  EXPECT_TRUE(torch::allclose(F::gaussian_blur(c, 5, torch::tensor({0.5, 3.0})), c));
  // Equalize spreads a two-level image to the extremes (torchvision's algorithm).
  auto two = torch::full({1, 1, 32, 32}, 0.2);
  two.slice(2, 16, 32).fill_(0.6);
  auto eq = F::equalize(two);
  EXPECT_FLOAT_EQ(eq.min().item<float>(), 0.f);
  EXPECT_FLOAT_EQ(eq.max().item<float>(), 1.f);
  // Too few pixels for a histogram step: left unchanged, as torchvision does.
  auto tiny = torch::tensor({0.2, 0.2, 0.6, 0.6}).view({1, 1, 2, 2});
  EXPECT_TRUE(torch::allclose(F::equalize(tiny), tiny));
}

TEST(Numeric, MixupTargetsSumToOne) {
  auto x = rand_image(16, 3, 8, 8);
  auto y = ka::one_hot_targets(torch::arange(16) % 10, 10);
  ka::Mixer mix(ka::MixKind::kMixup, 0.4);
  auto gen = kdaug::make_generator(1);
  auto r = mix(x, y, gen);
  EXPECT_TRUE(torch::allclose(r.targets.sum(1), torch::ones({16})));
  auto lam = r.params.lam.view({-1, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(r.images, lam * x + (1 - lam) * x.index_select(0, r.params.perm)));
  EXPECT_TRUE(torch::equal(mix.apply(x, y, r.params).images, r.images));
  EXPECT_GE(r.params.lam.min().item<float>(), 0.f);
  EXPECT_LE(r.params.lam.max().item<float>(), 1.f);
}

TEST(Numeric, CutmixAreaMatchesItsBox) {
  auto x = rand_image(16, 1, 10, 12);
  auto y = ka::one_hot_targets(torch::arange(16) % 4, 4);
  ka::Mixer mix(ka::MixKind::kCutmix, 1.0);
  auto gen = kdaug::make_generator(2);
  auto r = mix(x, y, gen);
  EXPECT_TRUE(torch::allclose(r.targets.sum(1), torch::ones({16})));
  auto other = x.index_select(0, r.params.perm);
  for (int64_t i = 0; i < 16; ++i) {
    auto b = r.params.box[i];
    const int64_t area = b[2].item<int64_t>() * b[3].item<int64_t>();
    // Pixels taken from the partner = the box area (where the partner differs from the sample).
    const int64_t from_other = ((r.images[i] == other[i]) & (r.images[i] != x[i])).sum().item<int64_t>();
    if (r.params.perm[i].item<int64_t>() != i) EXPECT_EQ(from_other, area) << i;
    EXPECT_NEAR(r.params.lam[i].item<float>(), 1.0 - double(area) / 120.0, 1e-6);
  }
  EXPECT_THROW(ka::Mixer(ka::MixKind::kMixup, -1.0), kdaug::Error);
  try {
    ka::Mixer::from_yaml(YAML::Load("{mixup: {alpha: 0}}"), "mix");
    ADD_FAILURE();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("alpha: must be > 0, got 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ka::Mixer::from_yaml(YAML::Load("{mixpu: {}}"), "mix"), kdaug::Error);
  EXPECT_THROW(ka::Mixer::from_yaml(YAML::Load("{cutmix: {beta: 1}}"), "mix"), kdaug::Error);
}

}  // namespace
