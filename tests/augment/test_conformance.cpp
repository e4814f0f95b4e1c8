// Shared conformance checks run on every op of the registry (Kornia's CommonTests style):
// shape/dtype/device kept, values in range, p=0 is the identity, p=1 always applies, replay is
// bit-exact, parameters select by sample, same seed same output, bad parameters rejected.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "kdaug/augment/op.h"
#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace ka = kdaug::augment;

namespace {

// Parameters that make each op visibly change a random image when it applies (p is added).
const std::map<std::string, std::string>& configs() {
  static const std::map<std::string, std::string> c = {
      {"crop", "{padding: 3, padding_mode: reflect}"},
      {"resized_crop", "{size: 12}"},
      {"hflip", "{}"},
      {"vflip", "{}"},
      {"rotate", "{degrees: [20, 40]}"},
      {"scale", "{min: 1.2, max: 1.4}"},
      {"translate", "{x: 0.3, y: 0.3}"},
      {"shear", "{x: [10, 20]}"},
      {"brightness", "{factor: [0.5, 0.7]}"},
      {"contrast", "{factor: [0.3, 0.6]}"},
      {"saturation", "{factor: [0.1, 0.5]}"},
      {"sharpness", "{factor: [1.5, 2.0]}"},
      {"gamma", "{gamma: [1.5, 2.0]}"},
      {"solarize", "{threshold: 0.5}"},
      {"posterize", "{bits: [1, 3]}"},
      {"gaussian_blur", "{kernel_size: 5, sigma: [1.0, 2.0]}"},
      {"invert", "{}"},
      {"equalize", "{}"},
      {"autocontrast", "{}"},
      {"erase", "{scale: [0.1, 0.3]}"},
      {"cutout", "{size: 6}"},
      {"gaussian_noise", "{sigma: 0.1}"},
      {"uniform_noise", "{level: 0.1}"},
      {"salt_pepper", "{amount: 0.2}"},
      {"speckle", "{sigma: 0.2}"},
      {"randaugment", "{n: 2, m: 15}"},
      {"trivial_augment", "{}"},
      // Variants "op.variant": the other padding modes, nearest interpolation with a fill
      // colour (fused into the same single grid_sample), the other shear axis, policies bilinear.
      {"crop.zero", "{padding: 3}"},
      {"crop.edge", "{padding: 3, padding_mode: edge}"},
      {"rotate.nearest_fill", "{degrees: [20, 40], interpolation: nearest, fill: 0.5}"},
      {"scale.nearest_fill", "{min: 0.6, max: 0.8, interpolation: nearest, fill: 1}"},
      {"translate.fill", "{x: 0.3, y: 0.3, fill: 0.5}"},
      {"shear.y", "{x: 0, y: [10, 20]}"},
      {"resized_crop.nearest", "{size: 12, interpolation: nearest}"},
      {"randaugment.bilinear", "{n: 1, m: 5, interpolation: bilinear}"},
  };
  return c;
}

// The op of a config key ("crop.edge" -> "crop").
std::string op_of(const std::string& key) { return key.substr(0, key.find('.')); }

// Every config key: each op and its variants.
std::vector<std::string> config_keys() {
  std::vector<std::string> v;
  for (const auto& kv : configs()) v.push_back(kv.first);
  return v;
}

// Ops whose p is implicit (policies choose "identity" themselves).
bool has_p(const std::string& key) {
  const auto op = op_of(key);
  return op != "randaugment" && op != "trivial_augment";
}

ka::OpPtr make(const std::string& name, c10::optional<double> p) {
  YAML::Node n = YAML::Load(configs().at(name));
  if (p && has_p(name)) n["p"] = *p;
  return ka::make_op(op_of(name), n, "test." + name);
}

// A random image with values spread over [0,1] and some structure (a gradient plus noise), so
// that histogram ops, solarize at 0.5 and autocontrast all change it.
at::Tensor image(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto gen = kdaug::make_generator(seed);
  auto ramp = torch::linspace(0.1, 0.8, w).view({1, 1, 1, w});
  return (0.6 * ramp + 0.3 * torch::rand({b, c, h, w}, gen)).clamp(0, 1);
}

ka::Pipeline single(const ka::OpPtr& op) { return ka::Pipeline({op}); }

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST(ConformanceRegistry, EveryOpHasAConfig) {
  for (const auto& n : ka::op_names()) EXPECT_TRUE(configs().count(n)) << n << " lacks a conformance config";
}

TEST_P(Conformance, ShapeDtypeDeviceRange) {
  for (int64_t c : {1, 3}) {
    auto op = make(GetParam(), 1.0);
    auto x = image(6, c, 16, 20, 1);
    auto gen = kdaug::make_generator(7);
    auto y = single(op)(x, gen);
    auto expect = op->out_shape({c, 16, 20});
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{6, expect.c, expect.h, expect.w}));
    EXPECT_EQ(y.scalar_type(), x.scalar_type());
    EXPECT_EQ(y.device(), x.device());
    EXPECT_GE(y.min().item<float>(), 0.f);
    EXPECT_LE(y.max().item<float>(), 1.f);
    EXPECT_FALSE(y.isnan().any().item<bool>());
  }
}

TEST_P(Conformance, Uint8InUint8Out) {
  auto op = make(GetParam(), 1.0);
  auto x = ka::to_uint8_image(image(4, 3, 16, 16, 2));
  auto gen = kdaug::make_generator(3);
  auto y = single(op)(x, gen);
  EXPECT_EQ(y.scalar_type(), at::kByte);
  EXPECT_EQ(y.size(0), 4);
}

TEST_P(Conformance, ProbabilityZeroIsIdentity) {
  if (!has_p(GetParam())) GTEST_SKIP() << "policies have no p";
  auto op = make(GetParam(), 0.0);
  auto x = image(8, 3, 16, 16, 4);
  auto gen = kdaug::make_generator(5);
  ka::PipelineParams used;
  auto y = single(op)(x, gen, &used);
  if (op_of(GetParam()) == "resized_crop") {  // p=0 still resizes the whole image to `size`
    EXPECT_EQ(y.size(2), 12);
    return;
  }
  EXPECT_TRUE(torch::equal(y, x)) << GetParam();
  EXPECT_FALSE(used.ops[0].at("apply").any().item<bool>());
}

TEST_P(Conformance, ProbabilityOneAlwaysApplies) {
  auto op = make(GetParam(), 1.0);
  auto x = image(8, 3, 16, 16, 6);
  auto gen = kdaug::make_generator(8);
  ka::PipelineParams used;
  auto y = single(op)(x, gen, &used);
  if (has_p(GetParam())) EXPECT_TRUE(used.ops[0].at("apply").all().item<bool>()) << GetParam();
  if (op_of(GetParam()) == "resized_crop") return;  // a different size: trivially changed
  // Every sample changed (policies may draw "identity" for some samples: most must change).
  auto changed = (y - x).abs().flatten(1).amax(1) > 1e-6;
  const int64_t n = changed.sum().item<int64_t>();
  if (op_of(GetParam()) == "crop") {  // the random offset may land on the identity (1 in 49 per sample)
    EXPECT_GE(n, 6);
  } else if (has_p(GetParam())) {
    EXPECT_EQ(n, 8) << GetParam();
  } else {
    EXPECT_GE(n, 4) << GetParam();
  }
}

TEST_P(Conformance, ReplayIsBitExactAndSelectable) {
  auto op = make(GetParam(), 0.5);
  auto p = single(op);
  auto x = image(10, 3, 16, 16, 9);
  auto gen = kdaug::make_generator(11);
  ka::PipelineParams used;
  auto y = p(x, gen, &used);
  EXPECT_TRUE(torch::equal(p.replay(x, used), y)) << GetParam();
  // Parameters selected by sample reproduce those samples: a view depends on its own parameters only.
  auto idx = torch::tensor({7, 2, 2, 0}, torch::kLong);
  EXPECT_TRUE(torch::equal(p.replay(x.index_select(0, idx), used.select(idx)), y.index_select(0, idx)))
      << GetParam();
  // cat of two halves equals the whole.
  auto a = used.select(torch::arange(0, 5)), b = used.select(torch::arange(5, 10));
  EXPECT_TRUE(torch::equal(p.replay(x, ka::PipelineParams::cat({a, b})), y)) << GetParam();
}

TEST_P(Conformance, SameSeedSameOutput) {
  auto p = single(make(GetParam(), 0.5));
  auto x = image(8, 1, 16, 16, 12);
  auto g1 = kdaug::make_generator(99), g2 = kdaug::make_generator(99), g3 = kdaug::make_generator(100);
  auto y1 = p(x, g1), y2 = p(x, g2), y3 = p(x, g3);
  EXPECT_TRUE(torch::equal(y1, y2)) << GetParam();
  if (op_of(GetParam()) != "hflip" && op_of(GetParam()) != "vflip" && op_of(GetParam()) != "invert" && op_of(GetParam()) != "equalize" &&
      op_of(GetParam()) != "autocontrast" && op_of(GetParam()) != "saturation" /* identity on 1 channel */) {
    EXPECT_FALSE(torch::equal(y1, y3)) << GetParam() << ": a different seed should change the views";
  }
}

TEST_P(Conformance, SeedsRecreateViews) {
  auto p = single(make(GetParam(), 0.5));
  auto x = image(4, 3, 16, 16, 13);
  auto seeds = torch::tensor({int64_t{5}, int64_t{17}, int64_t{5}, int64_t{123456789012345}}, torch::kLong);
  auto params = p.sample_params_from_seeds(seeds, {3, 16, 16}, x.device());
  auto y = p.replay(x, params);
  // The view of sample 2 (seed 5) equals that of sample 0 (seed 5) applied to the same image.
  auto x0 = x.narrow(0, 0, 1).repeat({4, 1, 1, 1});
  auto y0 = p.replay(x0, params);
  EXPECT_TRUE(torch::equal(y0[0], y0[2])) << GetParam();
  // A single seed alone recreates the same view as inside a batch.
  auto one = p.sample_params_from_seeds(seeds.narrow(0, 1, 1), {3, 16, 16}, x.device());
  EXPECT_TRUE(torch::equal(p.replay(x.narrow(0, 1, 1), one)[0], y[1])) << GetParam();
}

TEST_P(Conformance, BadParametersRejected) {
  const auto name = GetParam();
  YAML::Node n = YAML::Load(configs().at(name));
  n["no_such_param"] = 1;
  try {
    ka::make_op(op_of(name), n, "augment[0]." + name);
    ADD_FAILURE() << name << " accepted an unknown parameter";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown parameter 'no_such_param'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("augment[0]." + name), std::string::npos) << e.what();
  }
  if (has_p(name)) {
    YAML::Node b = YAML::Load(configs().at(name));
    b["p"] = 1.5;
    try {
      ka::make_op(op_of(name), b, "augment[0]." + name);
      ADD_FAILURE() << name << " accepted p=1.5";
    } catch (const kdaug::Error& e) {
      EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(".p"), std::string::npos) << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, Conformance, ::testing::ValuesIn(config_keys()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           auto n = i.param;
                           std::replace(n.begin(), n.end(), '.', '_');
                           return n;
                         });

// Op-specific bad values (each message must carry the value).
TEST(ConformanceBadValues, OpSpecific) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"rotate", "{degrees: -5}"},           {"rotate", "{degrees: [10, 5]}"},
      {"rotate", "{interpolation: cubic}"},  {"scale", "{min: 1.2, max: 0.8}"},
      {"scale", "{min: -1}"},                {"crop", "{padding: -2}"},
      {"crop", "{padding: 1.5}"},            {"crop", "{padding_mode: wrap}"},
      {"resized_crop", "{size: 8, scale: [0.5, 2]}"}, {"gaussian_blur", "{kernel_size: 4}"},
      {"posterize", "{bits: 9}"},            {"solarize", "{threshold: 2}"},
      {"gaussian_noise", "{sigma: -0.1}"},   {"salt_pepper", "{amount: 1.5}"},
      {"randaugment", "{m: 40}"},            {"brightness", "{factor: abc}"},
      {"cutout", "{size: 0}"},               {"translate", "{x: 2}"},
  };
  const std::vector<std::string> values = {"-5", "[10, 5]", "cubic", "min 1.2", "-1", "-2", "1.5", "wrap", "2",
                                           "4",  "9",       "2",     "-0.1",    "1.5", "40", "abc", "0",   "2"};
  for (size_t i = 0; i < bad.size(); ++i) {
    try {
      ka::make_op(bad[i].first, YAML::Load(bad[i].second), "augment[1]." + bad[i].first);
      ADD_FAILURE() << bad[i].first << " accepted " << bad[i].second;
    } catch (const kdaug::Error& e) {
      EXPECT_NE(std::string(e.what()).find(values[i]), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("augment[1]." + bad[i].first), std::string::npos) << e.what();
    }
  }
}

}  // namespace
