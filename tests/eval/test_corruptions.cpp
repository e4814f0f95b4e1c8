#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/corruptions.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

namespace {

// Fashion-MNIST-like test images: a bright garment shape (an ellipse body with rectangular
// sleeves, shaded and lightly textured) on a black background, in 4 sizes/positions.
// float [4,C,H,W] in [0,1]; colour images tint the shape differently per channel.
at::Tensor garments(int64_t c, int64_t h, int64_t w) {
  auto ys = at::arange(h, at::kFloat).add(0.5).div(h).view({1, h, 1});
  auto xs = at::arange(w, at::kFloat).add(0.5).div(w).view({1, 1, w});
  std::vector<at::Tensor> images;
  const float params[4][3] = {{0.5f, 0.5f, 0.30f}, {0.45f, 0.55f, 0.25f}, {0.55f, 0.5f, 0.35f}, {0.5f, 0.45f, 0.28f}};
  for (const auto& p : params) {
    const float cx = p[0], cy = p[1], r = p[2];
    auto body = ((xs - cx) / (0.7f * r)).pow(2) + ((ys - cy) / r).pow(2) < 1;
    auto sleeves = ((ys - (cy - 0.6f * r)).abs() < 0.12f) & ((xs - cx).abs() < 1.4f * r);
    auto mask = (body | sleeves).to(at::kFloat);
    auto shade = 0.55f + 0.4f * (1 - ys) + 0.08f * at::sin(xs * 40.0f);
    auto img = (mask * shade).clamp(0, 1).expand({c, h, w}).clone();
    for (int64_t k = 1; k < c; ++k) img[k] *= 1.0f - 0.25f * static_cast<float>(k);
    images.push_back(img);
  }
  return at::stack(images);
}

void expect_error_mentions(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected one mentioning " << part;
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(EvalCorruptions, NamesAreTheBenchmarkSuite) {
  const auto names = corruption_names();
  EXPECT_EQ(names.size(), 21u);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  for (const char* n : {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur",
                        "motion_blur", "glass_blur", "rotate", "shear", "scale", "translate", "elastic", "brightness",
                        "contrast", "inverse", "fog", "pixelate", "jpeg", "stripe", "zigzag", "dotted_line"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
}

// Shape, range, determinism and monotone strength, for every corruption, grey and colour.
TEST(EvalCorruptions, EveryCorruptionKeepsShapeRangeAndGrowsWithSeverity) {
  for (auto [c, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 28, 28}, {3, 32, 32}, {1, 20, 36}}) {
    const auto x = garments(c, h, w);
    for (const auto& name : corruption_names()) {
      SCOPED_TRACE(name + " at " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w));
      double prev = 0;
      for (int s = 1; s <= 5; ++s) {
        const auto y = corrupt(x, name, s, 42);
        ASSERT_EQ(y.sizes(), x.sizes());
        ASSERT_EQ(y.scalar_type(), at::kFloat);
        EXPECT_TRUE(y.isfinite().all().item<bool>());
        EXPECT_GE(y.min().item<double>(), 0.0);
        EXPECT_LE(y.max().item<double>(), 1.0);
        EXPECT_TRUE(y.equal(corrupt(x, name, s, 42))) << "not deterministic at severity " << s;
        const double diff = (y - x).abs().mean().item<double>();
        EXPECT_GE(diff, prev - 1e-6) << "severity " << s << " changes the image less than severity " << s - 1;
        if (s == 1) EXPECT_GT(diff, 1e-3) << "severity 1 leaves the image unchanged";
        prev = diff;
      }
    }
  }
}

TEST(EvalCorruptions, SeedMattersForRandomCorruptions) {
  const auto x = garments(1, 28, 28);
  for (const char* name : {"gaussian_noise", "shot_noise", "impulse_noise", "rotate", "elastic", "fog", "stripe",
                           "zigzag", "dotted_line", "glass_blur"}) {
    EXPECT_FALSE(corrupt(x, name, 3, 1).equal(corrupt(x, name, 3, 2))) << name;
  }
  // Deterministic corruptions ignore the seed.
  EXPECT_TRUE(corrupt(x, "jpeg", 3, 1).equal(corrupt(x, "jpeg", 3, 2)));
}

TEST(EvalCorruptions, SingleImageAndDoublePrecision) {
  const auto x = garments(3, 16, 16);
  const auto one = corrupt(x[0], "gaussian_blur", 2, 0);
  EXPECT_EQ(one.sizes(), x[0].sizes());
  EXPECT_TRUE(at::allclose(one, corrupt(x.narrow(0, 0, 1), "gaussian_blur", 2, 0)[0]));
  const auto d = corrupt(x.to(at::kDouble), "contrast", 3, 0);
  EXPECT_EQ(d.scalar_type(), at::kDouble);
}

TEST(EvalCorruptions, KnownValues) {
  const auto x = garments(1, 28, 28);
  // Brightness adds, clamped; inverse at severity 5 is 1 - x; contrast keeps the image mean.
  EXPECT_TRUE(at::allclose(corrupt(x, "brightness", 2, 0), (x + 0.2).clamp(0, 1)));
  EXPECT_TRUE(at::allclose(corrupt(x, "inverse", 5, 0), 1 - x));
  EXPECT_TRUE(at::allclose(corrupt(x, "contrast", 4, 0).mean({1, 2, 3}), x.mean({1, 2, 3}), 1e-5, 1e-6));
  // JPEG really compresses: a low quality changes a textured image, but not by much.
  const double jd = (corrupt(x, "jpeg", 1, 0) - x).abs().mean().item<double>();
  EXPECT_GT(jd, 1e-3);
  EXPECT_LT(jd, 0.1);
  // Impulse noise only ever writes 0 or 1.
  const auto imp = corrupt(x, "impulse_noise", 5, 0);
  const auto changed = imp.ne(x);
  EXPECT_TRUE((imp.masked_select(changed) * (1 - imp.masked_select(changed))).eq(0).all().item<bool>());
}

TEST(EvalCorruptions, BadInputsThrowWithTheValue) {
  const auto x = garments(1, 28, 28);
  expect_error_mentions([&] { corrupt(x, "snow", 1, 0); }, "snow");
  expect_error_mentions([&] { corrupt(x, "snow", 1, 0); }, "gaussian_noise");
  expect_error_mentions([&] { corrupt(x, "fog", 0, 0); }, "got 0");
  expect_error_mentions([&] { corrupt(x, "fog", 6, 0); }, "got 6");
  expect_error_mentions([&] { corrupt(at::zeros({2, 2, 8, 8}), "fog", 1, 0); }, "got 2");
  expect_error_mentions([&] { corrupt(at::zeros({2, 1, 8, 8}, at::kByte), "fog", 1, 0); }, "Byte");
  expect_error_mentions([&] { corrupt(at::zeros({8, 8}), "fog", 1, 0); }, "[8, 8]");
}

TEST(EvalCorruptions, EvaluateSharesImagesAcrossModelsAndMceOfSelfIsOne) {
  auto d = quadrant_dataset(40, 12, 12, 3);
  LinearClassifier a(1, 12, 12, 4, 1), b(1, 12, 12, 4, 2);
  CorruptionOptions o;
  o.names = {"gaussian_noise", "rotate", "jpeg"};
  o.severities = {1, 5};
  o.batch_size = 16;
  const auto reps = evaluate_corruptions({&a, &b, &a}, d, o);
  ASSERT_EQ(reps.size(), 3u);
  const auto& r = reps[0];
  EXPECT_EQ(r.n, 40);
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[1].name, "rotate");
  ASSERT_EQ(r.results[0].accuracy.size(), 2u);
  double sum = 0;
  for (const auto& c : r.results) {
    EXPECT_NEAR(c.mean_accuracy, (c.accuracy[0] + c.accuracy[1]) / 2, 1e-12);
    sum += c.mean_accuracy;
  }
  EXPECT_NEAR(r.mean_accuracy, sum / 3, 1e-12);
  // Same model, same corrupted images: identical numbers; alone: identical too (batching of
  // the corruption does not depend on the number of models).
  EXPECT_EQ(to_json(reps[2]), to_json(r));
  EXPECT_EQ(to_json(evaluate_corruptions(a, d, o)), to_json(r));
  const auto self = mean_corruption_error(r, r);
  for (const auto& [name, ce] : self.ce) {
    if (std::isfinite(ce)) EXPECT_DOUBLE_EQ(ce, 1.0) << name;
  }
  const auto j = to_json(r);
  EXPECT_EQ(j["corruptions"]["jpeg"]["accuracy"].size(), 2u);

  o.names = {"rain"};
  expect_error_mentions([&] { evaluate_corruptions(a, d, o); }, "rain");
  o.names = {};
  o.severities = {7};
  expect_error_mentions([&] { evaluate_corruptions(a, d, o); }, "7");
  o.severities = {1};
  o.batch_size = -1;
  expect_error_mentions([&] { evaluate_corruptions(a, d, o); }, "-1");
}

TEST(EvalCorruptions, MceOnHandExample) {
  CorruptionReport m, base;
  m.severities = base.severities = {1, 2};
  m.results = {{"fog", {0.9, 0.7}, 0.8}, {"jpeg", {0.5, 0.5}, 0.5}};
  base.results = {{"fog", {0.8, 0.6}, 0.7}, {"jpeg", {0.75, 0.75}, 0.75}};
  const auto r = mean_corruption_error(m, base);
  // fog: (0.1 + 0.3) / (0.2 + 0.4) = 2/3; jpeg: (0.5 + 0.5) / (0.25 + 0.25) = 2.
  EXPECT_NEAR(r.ce.at("fog"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.ce.at("jpeg"), 2.0, 1e-12);
  EXPECT_NEAR(r.mce, (2.0 / 3.0 + 2.0) / 2, 1e-12);
  base.results[1].name = "pixelate";
  expect_error_mentions([&] { mean_corruption_error(m, base); }, "pixelate");
}

TEST(EvalCorruptions, PreviewGridHasEveryCorruptionAndSeverity) {
  const auto img = garments(1, 28, 28)[0];
  const auto grid = corruptions_preview_grid(img, 3);
  const int64_t rows = static_cast<int64_t>(corruption_names().size());
  ASSERT_EQ(grid.sizes(), (at::IntArrayRef{1, rows * 29 + 1, 6 * 29 + 1}));
  EXPECT_EQ(grid.scalar_type(), at::kByte);
  const auto cell = [&](int64_t r, int64_t c) { return grid.slice(1, 1 + r * 29, 29 + r * 29).slice(2, 1 + c * 29, 29 + c * 29); };
  const auto u8 = [](const at::Tensor& x) { return x.mul(255).round().clamp(0, 255).to(at::kByte); };
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(cell(r, 0).equal(u8(img))) << "clean column, row " << r;
    const std::string name = corruption_names()[static_cast<size_t>(r)];
    for (int s = 1; s <= 5; ++s) EXPECT_TRUE(cell(r, s).equal(u8(corrupt(img, name, s, 3)))) << name << " " << s;
  }
  EXPECT_EQ(grid[0][0][0].item<uint8_t>(), 128);  // the gap
  const auto big = corruptions_preview_grid(img, 3, 2);
  EXPECT_EQ(big.size(1), 2 * grid.size(1));
  EXPECT_TRUE(big.slice(1, 0, big.size(1), 2).slice(2, 0, big.size(2), 2).equal(grid));
  expect_error_mentions([&] { corruptions_preview_grid(img, 3, 0); }, "got 0");
  expect_error_mentions([&] { corruptions_preview_grid(garments(1, 8, 8), 3); }, "[4, 1, 8, 8]");
}

// The suite makes all severities of a batch in one call (draws recorded once and replayed):
// the images must be bit for bit those of separate calls, in any order of severities.
TEST(EvalCorruptions, SeveritiesAtOnceEqualSeparateCallsBitForBit) {
  for (auto [c, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 28, 28}, {3, 20, 36}}) {
    const auto x = garments(c, h, w);
    const std::vector<int> sev{5, 1, 3, 2, 4};
    for (const auto& name : corruption_names()) {
      SCOPED_TRACE(name + " at " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w));
      const auto all = corrupt_severities(x, name, sev, 11);
      ASSERT_EQ(all.size(), sev.size());
      for (size_t i = 0; i < sev.size(); ++i) {
        EXPECT_TRUE(all[i].equal(corrupt(x, name, sev[i], 11))) << "severity " << sev[i];
      }
    }
  }
  const auto one = garments(1, 28, 28)[0];
  EXPECT_TRUE(corrupt_severities(one, "elastic", {2}, 0).front().equal(corrupt(one, "elastic", 2, 0)));
  EXPECT_TRUE(corrupt_severities(one, "fog", {}, 0).empty());
  expect_error_mentions([&] { corrupt_severities(one, "fog", {1, 6}, 0); }, "got 6");
}

// JPEG runs image by image in parallel: a batch gives what each image gives alone.
TEST(EvalCorruptions, JpegOfABatchEqualsJpegOfEachImage) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  auto g = garments(3, 32, 32);
  const auto x = at::cat({g, g.flip(3), g.flip(2), g.transpose(2, 3), g * 0.7, g.roll(5, 3), g.roll(-4, 2), 1 - g,
                          g.flip(2).flip(3), g * 0.5 + 0.25});
  ASSERT_EQ(x.size(0), 40);
  for (int s : {1, 5}) {
    const auto batch = corrupt(x, "jpeg", s, 0);
    for (int64_t i = 0; i < x.size(0); ++i) {
      EXPECT_TRUE(batch[i].equal(corrupt(x[i], "jpeg", s, 0))) << "image " << i << " severity " << s;
    }
  }
  at::set_num_threads(threads);
}
