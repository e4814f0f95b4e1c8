// Conformance of the mixing ops (mixup, cutmix), which live outside the op registry because they
// need the targets: 1 and 3 channels, uint8 or float input, p=0 is the identity, replay is
// bit-exact, same seed same result, soft targets consistent with the pixels.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "kdaug/augment/mix.h"
#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace ka = kdaug::augment;

namespace {

at::Tensor images(int64_t b, int64_t c, uint64_t seed) {
  auto gen = kdaug::make_generator(seed);
  return torch::rand({b, c, 10, 12}, gen);
}
at::Tensor targets(int64_t b) { return ka::one_hot_targets(torch::arange(b) % 5, 5); }

class MixConformance : public ::testing::TestWithParam<ka::MixKind> {};

TEST_P(MixConformance, ChannelsShapesAndSoftTargets) {
  for (int64_t c : {1, 3}) {
    ka::Mixer mix(GetParam(), 1.0);
    auto x = images(12, c, 1);
    auto gen = kdaug::make_generator(2);
    auto r = mix(x, targets(12), gen);
    EXPECT_EQ(r.images.sizes(), x.sizes());
    EXPECT_GE(r.images.min().item<float>(), 0.f);
    EXPECT_LE(r.images.max().item<float>(), 1.f);
    EXPECT_TRUE(torch::allclose(r.targets.sum(1), torch::ones({12})));
    // Each target row puts lam on its own class and 1 - lam on the partner's.
    auto own = (r.targets * targets(12)).sum(1);
    auto same = (torch::arange(12) % 5) == (r.params.perm % 5);
    EXPECT_TRUE(torch::allclose(torch::where(same, torch::ones_like(own), own),
                                torch::where(same, torch::ones_like(own), r.params.lam)));
    // Some samples really are mixed (soft targets).
    EXPECT_GT((r.targets.amax(1) < 0.999).sum().item<int64_t>(), 0) << c;
  }
}

TEST_P(MixConformance, Uint8InputIsConverted) {
  ka::Mixer mix(GetParam(), 1.0);
  auto x = images(8, 3, 3);
  auto u = ka::to_uint8_image(x);
  auto g1 = kdaug::make_generator(4), g2 = kdaug::make_generator(4);
  auto ru = mix(u, targets(8), g1);
  auto rf = mix(ka::to_float_image(u), targets(8), g2);
  EXPECT_EQ(ru.images.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(ru.images, rf.images));
}

TEST_P(MixConformance, ProbabilityZeroIsIdentity) {
  ka::Mixer mix(GetParam(), 1.0, 0.0);
  auto x = images(10, 3, 5);
  auto gen = kdaug::make_generator(6);
  auto r = mix(x, targets(10), gen);
  EXPECT_TRUE(torch::equal(r.images, x));
  EXPECT_TRUE(torch::equal(r.targets, targets(10)));
  EXPECT_TRUE(torch::equal(r.params.lam, torch::ones({10})));
}

TEST_P(MixConformance, ReplayAndSeeds) {
  ka::Mixer mix(GetParam(), 0.5, 0.7);
  auto x = images(10, 1, 7);
  auto g1 = kdaug::make_generator(8), g2 = kdaug::make_generator(8), g3 = kdaug::make_generator(9);
  auto r1 = mix(x, targets(10), g1), r2 = mix(x, targets(10), g2), r3 = mix(x, targets(10), g3);
  EXPECT_TRUE(torch::equal(r1.images, r2.images));
  EXPECT_FALSE(torch::equal(r1.images, r3.images));
  auto again = mix.apply(x, targets(10), r1.params);
  EXPECT_TRUE(torch::equal(again.images, r1.images));
  EXPECT_TRUE(torch::equal(again.targets, r1.targets));
}

TEST_P(MixConformance, BadInputsRejected) {
  ka::Mixer mix(GetParam(), 1.0);
  auto gen = kdaug::make_generator(0);
  EXPECT_THROW(mix(images(4, 1, 0).view({4, 10, 12}), targets(4), gen), kdaug::Error);
  EXPECT_THROW(mix(images(4, 1, 0), targets(5), gen), kdaug::Error);
  EXPECT_THROW(ka::Mixer(GetParam(), 1.0, 1.5), kdaug::Error);
}

INSTANTIATE_TEST_SUITE_P(Mixers, MixConformance, ::testing::Values(ka::MixKind::kMixup, ka::MixKind::kCutmix),
                         [](const ::testing::TestParamInfo<ka::MixKind>& i) {
                           return std::string(i.param == ka::MixKind::kMixup ? "mixup" : "cutmix");
                         });

}  // namespace
