// Calibration: ECE on a hand-computed example, reliability-diagram bins, temperature scaling.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/calibration.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

namespace {
// Two-class logits whose softmax puts probability p on class `pred`.
at::Tensor logits_for(const std::vector<std::pair<double, int>>& conf_pred) {
  auto l = at::zeros({static_cast<int64_t>(conf_pred.size()), 2}, at::kDouble);
  for (size_t i = 0; i < conf_pred.size(); ++i) {
    const auto [p, pred] = conf_pred[i];
    l[static_cast<int64_t>(i)][pred] = std::log(p);
    l[static_cast<int64_t>(i)][1 - pred] = std::log(1 - p);
  }
  return l;
}
double nll(const at::Tensor& logits, const at::Tensor& labels, double t) {
  return at::nll_loss(at::log_softmax(logits.to(at::kDouble) / t, 1), labels).item<double>();
}
}  // namespace

TEST(EvalCalibration, EceWithFifteenBinsOnHandExample) {
  // Confidence (predicted class), label:
  //   0.95 (0) y0 correct, 0.95 (1) y0 wrong        -> bin 14 (14/15, 1]:      acc 1/2, conf 0.95
  //   0.70 (0) y0, 0.70 (1) y1 correct, 0.70 (0) y1 -> bin 10 (10/15, 11/15]:  acc 2/3, conf 0.70
  //   0.55 (1) y1 correct                           -> bin 8  (8/15, 9/15]:    acc 1,   conf 0.55
  // ECE = 2/6 * 0.45 + 3/6 * |2/3 - 0.7| + 1/6 * 0.45 = 0.15 + 1/60 + 0.075
  const auto logits = logits_for({{0.95, 0}, {0.95, 1}, {0.7, 0}, {0.7, 1}, {0.7, 0}, {0.55, 1}});
  const auto labels = at::tensor({0, 0, 0, 1, 1, 1}, at::kLong);
  const auto s = calibration_stats(logits, labels, 15);
  EXPECT_NEAR(s.ece, 0.15 + 1.0 / 60 + 0.075, 1e-12);
  EXPECT_EQ(s.n, 6);
  EXPECT_NEAR(s.accuracy, 4.0 / 6, 1e-12);
  EXPECT_NEAR(s.nll, nll(logits, labels, 1), 1e-12);
  ASSERT_EQ(s.bins.size(), 15u);
  for (int64_t b = 0; b < 15; ++b) {
    const auto& bin = s.bins[static_cast<size_t>(b)];
    EXPECT_NEAR(bin.lower, b / 15.0, 1e-12);
    EXPECT_NEAR(bin.upper, (b + 1) / 15.0, 1e-12);
    const int64_t expected = b == 14 ? 2 : b == 10 ? 3 : b == 8 ? 1 : 0;
    EXPECT_EQ(bin.count, expected) << "bin " << b;
    if (expected == 0) {
      EXPECT_TRUE(std::isnan(bin.confidence) && std::isnan(bin.accuracy));
    }
  }
  EXPECT_NEAR(s.bins[14].accuracy, 0.5, 1e-12);
  EXPECT_NEAR(s.bins[14].confidence, 0.95, 1e-12);
  EXPECT_NEAR(s.bins[10].accuracy, 2.0 / 3, 1e-12);
  EXPECT_NEAR(s.bins[10].confidence, 0.7, 1e-12);
  EXPECT_NEAR(s.bins[8].accuracy, 1.0, 1e-12);
  // Empty bins are null in JSON.
  const auto j = to_json(s);
  EXPECT_TRUE(j["bins"][0]["accuracy"].is_null());
  EXPECT_EQ(j["bins"][14]["count"], 2);
}

TEST(EvalCalibration, PerfectCalibrationHasZeroEce) {
  // Confidence 0.75 with 3 of 4 right.
  const auto logits = logits_for({{0.75, 0}, {0.75, 0}, {0.75, 0}, {0.75, 0}});
  const auto s = calibration_stats(logits, at::tensor({0, 0, 0, 1}, at::kLong), 15);
  EXPECT_NEAR(s.ece, 0.0, 1e-12);
}

TEST(EvalCalibration, ReliabilityBinsAreConsistent) {
  auto gen = make_generator(1);
  const auto logits = at::randn({500, 10}, gen, at::kFloat) * 3;
  const auto labels = at::randint(10, {500}, gen, at::kLong);
  for (int64_t bins : {1, 7, 15}) {
    const auto s = calibration_stats(logits, labels, bins, 1.5);
    int64_t total = 0;
    double acc = 0, conf = 0, ece = 0;
    for (const auto& b : s.bins) {
      total += b.count;
      if (b.count == 0) continue;
      EXPECT_GT(b.confidence, b.lower - 1e-12);
      EXPECT_LE(b.confidence, b.upper + 1e-12);
      acc += b.count * b.accuracy;
      conf += b.count * b.confidence;
      ece += b.count * std::abs(b.accuracy - b.confidence);
    }
    EXPECT_EQ(total, 500);
    EXPECT_NEAR(acc / 500, s.accuracy, 1e-12);
    const auto mean_conf = at::softmax(logits.to(at::kDouble) / 1.5, 1).amax(1).mean().item<double>();
    EXPECT_NEAR(conf / 500, mean_conf, 1e-9);
    EXPECT_NEAR(ece / 500, s.ece, 1e-12);
    EXPECT_DOUBLE_EQ(s.temperature, 1.5);
  }
}

TEST(EvalCalibration, TemperatureScalingNeverRaisesFittedNll) {
  auto gen = make_generator(2);
  // Over-confident: large logits, 60% right -> T > 1.
  const auto labels = at::randint(5, {400}, gen, at::kLong);
  const auto right = at::rand({400}, gen, at::kFloat) < 0.6;
  const auto pred = at::where(right, labels, (labels + 1) % 5);
  const auto over = at::randn({400, 5}, gen, at::kFloat) + at::one_hot(pred, 5).to(at::kFloat) * 10;
  // Under-confident: small logits, mostly but not always right -> 0 < T < 1. (Noise must keep the
  // classes overlapping: on separable logits the NLL falls all the way to T -> 0, the search's bound.)
  auto under = at::randn({400, 5}, gen, at::kFloat) * 0.3;
  under.scatter_add_(1, labels.view({-1, 1}), at::full({400, 1}, 0.5f));
  const double t_over = fit_temperature(over, labels);
  const double t_under = fit_temperature(under, labels);
  EXPECT_GT(t_over, 1.0);
  EXPECT_LT(t_under, 1.0);
  for (const auto& [l, t] : {std::pair{over, t_over}, std::pair{under, t_under}}) {
    EXPECT_LE(nll(l, labels, t), nll(l, labels, 1.0));
    // A minimum: nudging T either way does not help.
    EXPECT_LE(nll(l, labels, t), nll(l, labels, t * 1.05) + 1e-9);
    EXPECT_LE(nll(l, labels, t), nll(l, labels, t / 1.05) + 1e-9);
  }
}

TEST(EvalCalibration, EvaluateFitsOnValidationAndKeepsTestSeparate) {
  SmallCnn model(1, 8, 8, 4);
  quick_train(model, quadrant_dataset(128, 8, 8, 1), 1, 2);
  const auto val = quadrant_dataset(200, 8, 8, 3);
  const auto test = quadrant_dataset(150, 8, 8, 4);
  CalibrationOptions o;
  o.batch_size = 64;
  const auto no_val = evaluate_calibration(model, test, nullptr, o);
  EXPECT_FALSE(no_val.fitted);
  EXPECT_DOUBLE_EQ(no_val.after.temperature, 1.0);
  EXPECT_DOUBLE_EQ(no_val.after.ece, no_val.before.ece);
  const auto r = evaluate_calibration(model, test, &val, o);
  EXPECT_TRUE(r.fitted);
  EXPECT_EQ(r.fit_n, 200);
  EXPECT_EQ(r.before.n, 150);
  EXPECT_DOUBLE_EQ(r.before.ece, no_val.before.ece);
  EXPECT_DOUBLE_EQ(r.before.accuracy, r.after.accuracy);  // scaling keeps the argmax
  // Fitted on the test set itself: the NLL there cannot go up.
  const auto self = evaluate_calibration(model, test, &test, o);
  EXPECT_LE(self.after.nll, self.before.nll + 1e-12);
  const auto j = to_json(r);
  EXPECT_EQ(j["fitted"], true);
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), r.after.temperature);
  EXPECT_TRUE(j["before"].contains("ece"));
}

TEST(EvalCalibration, BadInputsThrowWithTheValue) {
  const auto logits = at::zeros({4, 3});
  const auto labels = at::tensor({0, 1, 2, 0}, at::kLong);
  try {
    calibration_stats(logits, labels, 0);
    FAIL() << "0 bins accepted";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(calibration_stats(logits, labels, 15, -1.0), kdaug::Error);
  EXPECT_THROW(calibration_stats(logits, at::tensor({0, 1, 3, 0}, at::kLong)), kdaug::Error);
  EXPECT_THROW(calibration_stats(logits, labels.narrow(0, 0, 3)), kdaug::Error);
  EXPECT_THROW(fit_temperature(at::zeros({0, 3}), at::zeros({0}, at::kLong)), kdaug::Error);
}
