// DKD against its formula (Zhao et al. 2022, eqs. 1-7) computed by hand on known logits.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/distance.h"
#include "kdaug/distill/dkd.h"

namespace kdaug::distill {
namespace {

using Row = std::vector<double>;

Row softmax(const Row& z, double t) {
  double sum = 0;
  Row out;
  for (double v : z) sum += std::exp(v / t);
  for (double v : z) out.push_back(std::exp(v / t) / sum);
  return out;
}

// TCKD and NCKD of one sample, straight from the paper's definitions.
std::pair<double, double> by_hand(const Row& s, const Row& t, int y, double temp) {
  const Row ps = softmax(s, temp), pt = softmax(t, temp);
  const double bs[2] = {ps[y], 1 - ps[y]};
  const double bt[2] = {pt[y], 1 - pt[y]};
  const double tckd = bt[0] * std::log(bt[0] / bs[0]) + bt[1] * std::log(bt[1] / bs[1]);
  double nckd = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (static_cast<int>(i) == y) continue;
    const double qs = ps[i] / bs[1], qt = pt[i] / bt[1];  // p-hat: renormalised non-target
    nckd += qt * std::log(qt / qs);
  }
  return {temp * temp * tckd, temp * temp * nckd};
}

at::Tensor row(const Row& r) { return torch::tensor(r, torch::kDouble).view({1, -1}); }

TEST(DKD, MatchesTheFormulaOnKnownLogits) {
  const std::vector<Row> s{{1.0, 2.0, 0.5, -1.0}, {0.0, 3.0, 1.0, 1.0}};
  const std::vector<Row> t{{2.0, 1.0, 0.0, 0.5}, {1.0, 4.0, -2.0, 0.0}};
  const std::vector<int> y{0, 1};
  const double temp = 2.0, alpha = 1.0, beta = 8.0;
  double tckd = 0, nckd = 0;
  for (int b = 0; b < 2; ++b) {
    auto [tc, nc] = by_hand(s[b], t[b], y[b], temp);
    tckd += tc / 2;
    nckd += nc / 2;
  }
  const at::Tensor S = torch::cat({row(s[0]), row(s[1])});
  const at::Tensor T = torch::cat({row(t[0]), row(t[1])});
  const at::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  const DKDParts parts = dkd_parts(S, T, labels, temp);
  EXPECT_NEAR(parts.tckd.item<double>(), tckd, 1e-12);
  EXPECT_NEAR(parts.nckd.item<double>(), nckd, 1e-12);
  EXPECT_NEAR(dkd_loss(S, T, labels, alpha, beta, temp).item<double>(), alpha * tckd + beta * nckd, 1e-12);
}

TEST(DKD, ReassemblesClassicalKD) {
  // The paper's eq. (7): KD = TCKD + (1 - p_t^teacher) * NCKD, per sample.
  const Row s{0.3, -1.0, 2.0}, t{1.5, 0.0, 1.0};
  const int y = 2;
  const double temp = 3.0;
  const at::Tensor labels = torch::tensor({y}, torch::kLong);
  const DKDParts p = dkd_parts(row(s), row(t), labels, temp);
  const double pt_y = softmax(t, temp)[y];
  const double kd = distance(row(s), row(t), DistanceOptions().kind(Distance::KL).temperature(temp)).item<double>();
  EXPECT_NEAR(p.tckd.item<double>() + (1 - pt_y) * p.nckd.item<double>(), kd, 1e-12);
}

TEST(DKD, StaysFiniteForAConfidentTeacher) {
  const at::Tensor s = torch::tensor({{0.0, 1.0, 2.0}}, torch::kFloat).requires_grad_(true);
  const at::Tensor t = torch::tensor({{500.0, -500.0, 0.0}}, torch::kFloat);
  const at::Tensor loss = dkd_loss(s, t, torch::tensor({0}, torch::kLong), 1, 8, 1);
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_TRUE(s.grad().isfinite().all().item<bool>());
}

TEST(DKD, GradientMatchesFiniteDifferences) {
  at::Generator gen = make_generator(11);
  const at::Tensor s = at::randn({3, 5}, gen, torch::kDouble) * 2;
  const at::Tensor t = at::randn({3, 5}, gen, torch::kDouble) * 2;
  const at::Tensor labels = torch::tensor({1, 4, 0}, torch::kLong);
  testing::expect_gradient_matches(
      [&](const at::Tensor& x) { return dkd_loss(x, t, labels, 1.0, 8.0, 4.0); }, s);
}

TEST(DKD, RejectsBadArguments) {
  const at::Tensor s = torch::zeros({2, 3}), t = torch::zeros({2, 3});
  const at::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  auto mentions = [](auto f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "expected kdaug::Error mentioning " << needle;
    } catch (const kdaug::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  mentions([&] { dkd_loss(s, t, labels, -1, 8, 4); }, "alpha must be >= 0 and finite, got -1");
  mentions([&] { dkd_loss(s, t, labels, 1, NAN, 4); }, "beta");
  mentions([&] { dkd_loss(s, t, labels, 1, 8, 0); }, "temperature must be positive and finite, got 0");
  EXPECT_THROW(dkd_loss(s, torch::zeros({2, 4}), labels, 1, 8, 4), c10::Error);
  EXPECT_THROW(dkd_loss(s, t, torch::tensor({0, 3}, torch::kLong), 1, 8, 4), c10::Error);
}

}  // namespace
}  // namespace kdaug::distill
