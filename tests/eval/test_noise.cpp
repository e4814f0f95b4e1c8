// Noise sweep: sigma 0 is the clean evaluation, the sweep is a function of the seed, and the
// noise really reaches the model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/metrics.h"
#include "kdaug/eval/noise.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

namespace {
struct Trained {
  SmallCnn model{1, 12, 12, 4};
  data::Dataset train = quadrant_dataset(256, 12, 12, 1);
  data::Dataset test = quadrant_dataset(300, 12, 12, 2);
  Trained() { quick_train(model, train, 2, 3); }
};
Trained& trained() {
  static Trained t;
  return t;
}
}  // namespace

TEST(EvalNoise, SigmaZeroEqualsCleanAccuracy) {
  auto& t = trained();
  NoiseSweepOptions o;
  o.batch_size = 64;  // several batches, last one partial
  const auto r = noise_sweep(t.model, t.test, o);
  ASSERT_EQ(r.points.size(), 5u);
  const std::vector<double> expected{0, 0.05, 0.1, 0.2, 0.3};
  for (size_t k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ(r.points[k].sigma, expected[k]);
  EXPECT_EQ(r.n, 300);
  const auto clean = evaluate(t.model, t.test);
  EXPECT_DOUBLE_EQ(r.points[0].accuracy, clean.accuracy);
  EXPECT_NEAR(r.points[0].nll, clean.nll, 1e-5);
  EXPECT_GT(clean.accuracy, 0.9);  // the model learnt the task, so noise has something to break
}

TEST(EvalNoise, NoiseRaisesTheLossAndAccuracyFallsAtLargeSigma) {
  auto& t = trained();
  const auto r = noise_sweep(t.model, t.test, {});
  EXPECT_GT(r.points[4].nll, r.points[0].nll);
  // sigma 0.3 on a 0.2-contrast background hides many squares; huge noise sends it to chance.
  NoiseSweepOptions big;
  big.sigmas = {0, 5.0};
  const auto rb = noise_sweep(t.model, t.test, big);
  EXPECT_LT(rb.points[1].accuracy, rb.points[0].accuracy - 0.3);
}

TEST(EvalNoise, DeterministicBySeed) {
  auto& t = trained();
  NoiseSweepOptions o;
  o.seed = 7;
  const auto a = noise_sweep(t.model, t.test, o);
  const auto b = noise_sweep(t.model, t.test, o);
  o.seed = 8;
  const auto c = noise_sweep(t.model, t.test, o);
  bool differs = false;
  for (size_t k = 0; k < a.points.size(); ++k) {
    EXPECT_EQ(a.points[k].accuracy, b.points[k].accuracy);
    EXPECT_EQ(a.points[k].nll, b.points[k].nll);
    if (k > 0 && a.points[k].nll != c.points[k].nll) differs = true;
  }
  EXPECT_EQ(a.points[0].nll, c.points[0].nll);  // no noise: the seed does not matter
  EXPECT_TRUE(differs);
  EXPECT_EQ(to_json(a)["seed"], 7);
}

TEST(EvalNoise, LimitAndJson) {
  auto& t = trained();
  NoiseSweepOptions o;
  o.limit = 50;
  o.sigmas = {0.1};
  const auto r = noise_sweep(t.model, t.test, o);
  EXPECT_EQ(r.n, 50);
  const auto j = to_json(r);
  ASSERT_EQ(j["points"].size(), 1u);
  EXPECT_DOUBLE_EQ(j["points"][0]["sigma"].get<double>(), 0.1);
  EXPECT_TRUE(j["points"][0].contains("accuracy"));
  EXPECT_TRUE(j["points"][0].contains("nll"));
}

TEST(EvalNoise, BadOptionsThrowWithTheValue) {
  auto& t = trained();
  NoiseSweepOptions o;
  o.sigmas = {0.1, -0.2};
  try {
    noise_sweep(t.model, t.test, o);
    FAIL() << "negative sigma accepted";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("-0.2"), std::string::npos) << e.what();
  }
  o.sigmas = {};
  EXPECT_THROW(noise_sweep(t.model, t.test, o), kdaug::Error);
  o = {};
  o.batch_size = 0;
  EXPECT_THROW(noise_sweep(t.model, t.test, o), kdaug::Error);
}
