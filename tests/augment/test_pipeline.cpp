// Pipeline construction from the recipe, its errors, AugmentConfig and the preview grid.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>

#include "kdaug/augment/pipeline.h"
#include "kdaug/augment/png.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace ka = kdaug::augment;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kdaug::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Pipeline, CanonicalRecipe) {
  auto root = YAML::Load(
      "augment: [{crop: {padding: 2}}, {rotate: {degrees: 10}}, {scale: {min: 0.9, max: 1.1}}, {hflip: {p: 0.5}}]\n"
      "perturb: [{gaussian_noise: {sigma: 0.1}}]\n"
      "seed: 3\n");
  auto cfg = ka::augment_config_from_yaml(root);
  EXPECT_EQ(cfg.augment.size(), 4u);
  EXPECT_EQ(cfg.perturb.size(), 1u);
  EXPECT_NE(cfg.augment.describe().find("rotate(degrees=[-10, 10]"), std::string::npos) << cfg.augment.describe();
  EXPECT_NE(cfg.perturb.describe().find("gaussian_noise(sigma=[0.1, 0.1]"), std::string::npos);
  auto x = torch::rand({8, 1, 28, 28});
  auto gen = kdaug::make_generator(1);
  ka::PipelineParams used;
  auto xa = cfg.augment(x, gen, &used);
  auto xp = cfg.perturb(xa, gen);
  EXPECT_EQ(xa.sizes(), x.sizes());
  EXPECT_EQ(xp.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(cfg.augment.replay(x, used), xa));
  // Empty/missing keys give empty pipelines that return the input.
  auto none = ka::augment_config_from_yaml(YAML::Load("seed: 1"));
  EXPECT_TRUE(none.augment.empty());
  EXPECT_TRUE(torch::equal(none.augment(x, gen), x));
  // A bare name takes the defaults.
  EXPECT_EQ(ka::Pipeline::from_yaml(YAML::Load("[hflip, equalize]"), "augment").size(), 2u);
}

TEST(Pipeline, ErrorsNameTheRecipePathAndValue) {
  auto msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("[{hflip: {}}, {crop: {}}, {rotate: {degree: 10}}]"), "augment"); });
  EXPECT_NE(msg.find("augment[2].rotate: unknown parameter 'degree' (known: degrees, p, interpolation, fill)"),
            std::string::npos)
      << msg;
  msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("[{rotat: {}}]"), "augment"); });
  EXPECT_NE(msg.find("augment[0].rotat: unknown augmentation op 'rotat'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rotate"), std::string::npos) << msg;
  msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("[{hflip: {p: 2}}]"), "perturb"); });
  EXPECT_NE(msg.find("perturb[0].hflip.p: must be in [0, 1], got 2"), std::string::npos) << msg;
  msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("{hflip: {}}"), "augment"); });
  EXPECT_NE(msg.find("augment: expected a list"), std::string::npos) << msg;
  msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("[{hflip: {}, vflip: {}}]"), "augment"); });
  EXPECT_NE(msg.find("augment[0]: expected one op"), std::string::npos) << msg;
  msg = error_of([] { ka::Pipeline::from_yaml(YAML::Load("[{hflip: 3}]"), "augment"); });
  EXPECT_NE(msg.find("augment[0].hflip: parameters must be a map"), std::string::npos) << msg;
  // Input checks at the call.
  auto p = ka::Pipeline::from_yaml(YAML::Load("[hflip]"), "augment");
  auto gen = kdaug::make_generator(0);
  msg = error_of([&] { p(torch::rand({3, 4, 4}), gen); });
  EXPECT_NE(msg.find("[3, 4, 4]"), std::string::npos) << msg;
  msg = error_of([&] { p(torch::ones({2, 1, 4, 4}, torch::kInt), gen); });
  EXPECT_NE(msg.find("Int"), std::string::npos) << msg;
  ka::PipelineParams used;
  p(torch::rand({2, 1, 4, 4}), gen, &used);
  msg = error_of([&] { p.replay(torch::rand({5, 1, 4, 4}), used); });
  EXPECT_NE(msg.find("parameters for 2 samples given for a batch of 5"), std::string::npos) << msg;
  msg = error_of([] { ka::augment_config_from_yaml(YAML::Load("augment: [{scale: {min: 2, max: 1}}]")); });
  EXPECT_NE(msg.find("augment[0].scale: min must be <= max, got min 2 max 1"), std::string::npos) << msg;
}

TEST(Pipeline, ChannelCountsAndSizes) {
  auto p = ka::Pipeline::from_yaml(
      YAML::Load("[{resized_crop: {size: 10}}, {crop: {padding: 1, padding_mode: edge}}, {rotate: {}}, {erase: {p: 1}}]"),
      "augment");
  for (int64_t c : {1, 2, 3, 4}) {
    auto gen = kdaug::make_generator(c);
    auto y = p(torch::rand({3, c, 13, 17}), gen);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, c, 10, 10}));
  }
  EXPECT_EQ(p.out_shape({3, 13, 17}), (ka::ImageShape{3, 10, 10}));
}

TEST(Png, PreviewGridIsWritten) {
  const auto dir = std::filesystem::temp_directory_path() / ("kdaug_aug_png_" + std::to_string(::getpid()));
  const auto path = (dir / "grid.png").string();
  auto x = torch::rand({4, 1, 8, 8});
  ka::write_preview_grid(path, x, x.flip({3}), ka::to_uint8_image(x), 2);
  std::ifstream f(path, std::ios::binary);
  ASSERT_TRUE(f.good());
  char sig[8];
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  // 3 rows of 8 px + 4 gaps of 2 = 32 px high, 4 cells of 8 + 5 gaps = 42 px wide, doubled.
  f.seekg(16);
  unsigned char wh[8];
  f.read(reinterpret_cast<char*>(wh), 8);
  EXPECT_EQ((wh[0] << 24) | (wh[1] << 16) | (wh[2] << 8) | wh[3], 84);
  EXPECT_EQ((wh[4] << 24) | (wh[5] << 16) | (wh[6] << 8) | wh[7], 64);
  auto msg = error_of([&] { ka::write_png(path, torch::zeros({2, 4, 4}, torch::kByte)); });
  EXPECT_NE(msg.find("got 2"), std::string::npos) << msg;
  msg = error_of([&] { ka::write_preview_grid(path, x, torch::rand({3, 1, 8, 8}), at::Tensor(), 2); });
  EXPECT_NE(msg.find("rows differ"), std::string::npos) << msg;
  std::filesystem::remove_all(dir);
}

}  // namespace
