// Distances: hand-computed values, T^2 scaling, gradients by finite differences, bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "grad_check.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/distance.h"

namespace kdaug::distill {
namespace {

using testing::expect_gradient_matches;
using Row = std::vector<double>;

at::Tensor mat(const std::vector<Row>& rows) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kDouble).view({static_cast<int64_t>(rows.size()), -1});
}

Row softmax(const Row& z, double t = 1.0) {
  double sum = 0;
  Row out;
  for (double v : z) sum += std::exp(v / t);
  for (double v : z) out.push_back(std::exp(v / t) / sum);
  return out;
}

double kl(const Row& p, const Row& q) {
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += p[i] * std::log(p[i] / q[i]);
  return s;
}

const std::vector<Row> kStudent{{1.0, 2.0, 3.0}, {0.5, -1.0, 2.0}};
const std::vector<Row> kTeacher{{3.0, 1.0, 0.0}, {0.0, 0.0, 4.0}};

double value(const at::Tensor& t) { return t.item<double>(); }

TEST(Distance, CrossEntropyWithLabelsMatchesHandValue) {
  const at::Tensor labels = torch::tensor({2, 0}, torch::kLong);
  const double expected = (-std::log(softmax(kStudent[0])[2]) - std::log(softmax(kStudent[1])[0])) / 2;
  EXPECT_NEAR(value(distance(mat(kStudent), labels, DistanceOptions())), expected, 1e-12);
}

TEST(Distance, LabelSmoothingMixesInUniform) {
  const at::Tensor labels = torch::tensor({2, 0}, torch::kLong);
  const double ls = 0.1;
  double expected = 0;
  for (int b = 0; b < 2; ++b) {
    const Row q = softmax(kStudent[b]);
    const int y = b == 0 ? 2 : 0;
    double uniform = 0;
    for (double p : q) uniform -= std::log(p) / 3;
    expected += ((1 - ls) * -std::log(q[y]) + ls * uniform) / 2;
  }
  EXPECT_NEAR(value(distance(mat(kStudent), labels, DistanceOptions().label_smoothing(ls))), expected, 1e-12);
}

TEST(Distance, KLAtTemperatureMatchesHandValueAndIsScaledByTSquared) {
  for (double t : {1.0, 2.0, 4.0}) {
    double expected = 0;
    for (int b = 0; b < 2; ++b) expected += kl(softmax(kTeacher[b], t), softmax(kStudent[b], t)) / 2;
    const at::Tensor got =
        distance(mat(kStudent), mat(kTeacher), DistanceOptions().kind(Distance::KL).temperature(t));
    EXPECT_NEAR(value(got), t * t * expected, 1e-12) << "T=" << t;
  }
  // The same scaling seen from outside: KL at T on logits == T^2 * KL at 1 on logits / T.
  const at::Tensor at4 = distance(mat(kStudent), mat(kTeacher), DistanceOptions().kind(Distance::KL).temperature(4));
  const at::Tensor at1 = distance(mat(kStudent) / 4, mat(kTeacher) / 4, DistanceOptions().kind(Distance::KL));
  EXPECT_NEAR(value(at4), 16 * value(at1), 1e-12);
}

TEST(Distance, KLIsZeroForIdenticalLogits) {
  EXPECT_NEAR(value(distance(mat(kStudent), mat(kStudent), DistanceOptions().kind(Distance::KL).temperature(3))),
              0.0, 1e-12);
}

TEST(Distance, SoftCrossEntropyIsKLPlusTeacherEntropy) {
  const double t = 2.0;
  double entropy = 0;
  for (const auto& r : kTeacher) {
    for (double p : softmax(r, t)) entropy -= p * std::log(p) / 2;
  }
  const double kl_v = value(distance(mat(kStudent), mat(kTeacher), DistanceOptions().kind(Distance::KL).temperature(t)));
  const double ce_v = value(distance(mat(kStudent), mat(kTeacher), DistanceOptions().kind(Distance::CE).temperature(t)));
  EXPECT_NEAR(ce_v, kl_v + t * t * entropy, 1e-12);
}

TEST(Distance, ProbabilityTargetsAreUsedAsGiven) {
  // One-hot rows: zeros must not produce NaN, and KL equals CE (the target entropy is 0).
  const at::Tensor onehot = mat({{0, 0, 1}, {1, 0, 0}});
  const auto opts = DistanceOptions().target_is_probs(true);
  const double ce = value(distance(mat(kStudent), onehot, opts));
  const double kl_v = value(distance(mat(kStudent), onehot, DistanceOptions(opts).kind(Distance::KL)));
  const double ce_labels = value(distance(mat(kStudent), torch::tensor({2, 0}, torch::kLong), DistanceOptions()));
  EXPECT_NEAR(ce, ce_labels, 1e-12);
  EXPECT_NEAR(kl_v, ce_labels, 1e-12);
}

TEST(Distance, L1AndL2OnLogitsMatchHandValues) {
  const at::Tensor s = mat({{1, 2}, {0, 0}});
  const at::Tensor t = mat({{0, 4}, {3, 0}});
  // |diffs| = 1, 2, 3, 0 over 4 elements.
  EXPECT_NEAR(value(distance(s, t, DistanceOptions().kind(Distance::L1))), 6.0 / 4, 1e-12);
  EXPECT_NEAR(value(distance(s, t, DistanceOptions().kind(Distance::L2))), 14.0 / 4, 1e-12);
  // The temperature does not touch logit-space distances.
  EXPECT_NEAR(value(distance(s, t, DistanceOptions().kind(Distance::L2).temperature(5))), 14.0 / 4, 1e-12);
}

TEST(Distance, L1AndL2OnProbabilitiesMatchHandValues) {
  const double t = 2.0;
  double l1 = 0, l2 = 0;
  for (int b = 0; b < 2; ++b) {
    const Row p = softmax(kStudent[b], t), q = softmax(kTeacher[b], t);
    for (int k = 0; k < 3; ++k) {
      l1 += std::abs(p[k] - q[k]) / 6;
      l2 += (p[k] - q[k]) * (p[k] - q[k]) / 6;
    }
  }
  const auto o = DistanceOptions().space(Space::Probs).temperature(t);
  EXPECT_NEAR(value(distance(mat(kStudent), mat(kTeacher), DistanceOptions(o).kind(Distance::L1))), l1, 1e-12);
  EXPECT_NEAR(value(distance(mat(kStudent), mat(kTeacher), DistanceOptions(o).kind(Distance::L2))), l2, 1e-12);
}

TEST(Distance, FloatInputsGiveFloatLoss) {
  const at::Tensor s = mat(kStudent).to(torch::kFloat);
  const at::Tensor got = distance(s, mat(kTeacher).to(torch::kFloat), DistanceOptions().kind(Distance::KL).temperature(4));
  EXPECT_EQ(got.scalar_type(), torch::kFloat);
  EXPECT_EQ(got.dim(), 0);
}

TEST(Distance, Bf16LogitsAreScoredInFp32) {
  // A bf16 student forward (mixed precision): the loss is computed in fp32 against the fp32
  // teacher, not in bf16 against a teacher rounded to bf16.
  at::Generator gen = make_generator(4);
  const at::Tensor student = (at::randn({64, 10}, gen) * 4).to(torch::kBFloat16).requires_grad_(true);
  const at::Tensor teacher = at::randn({64, 10}, gen) * 4;
  for (Distance d : {Distance::KL, Distance::CE, Distance::L2}) {
    SCOPED_TRACE(to_string(d));
    const auto o = DistanceOptions().kind(d).temperature(4);
    const at::Tensor got = distance(student, teacher, o);
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    const double want = value(distance(student.detach().to(torch::kFloat), teacher, o));
    EXPECT_NEAR(value(got), want, 1e-6 * std::abs(want));
    got.backward();
    EXPECT_EQ(student.grad().scalar_type(), torch::kBFloat16);
    student.grad().zero_();
  }
  const at::Tensor labels = at::randint(10, {64}, gen);
  EXPECT_EQ(distance(student, labels, DistanceOptions()).scalar_type(), torch::kFloat);
}

TEST(Distance, NoGradientFlowsIntoTheTarget) {
  at::Tensor s = mat(kStudent).requires_grad_(true);
  at::Tensor t = mat(kTeacher).requires_grad_(true);
  distance(s, t, DistanceOptions().kind(Distance::KL).temperature(2)).backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
}

TEST(Distance, GradientsMatchFiniteDifferences) {
  at::Generator gen = make_generator(7);
  const at::Tensor s = at::randn({3, 5}, gen, torch::kDouble) * 2;
  const at::Tensor t = at::randn({3, 5}, gen, torch::kDouble) * 2;
  const at::Tensor labels = torch::tensor({4, 0, 2}, torch::kLong);
  const at::Tensor probs = at::softmax(at::randn({3, 5}, gen, torch::kDouble), 1);
  struct Case {
    std::string name;
    DistanceOptions opts;
    at::Tensor target;
  };
  const std::vector<Case> cases{
      {"ce labels", DistanceOptions(), labels},
      {"ce labels smoothed", DistanceOptions().label_smoothing(0.2), labels},
      {"ce soft T=3", DistanceOptions().temperature(3), t},
      {"ce probs", DistanceOptions().target_is_probs(true), probs},
      {"kl T=1", DistanceOptions().kind(Distance::KL), t},
      {"kl T=4", DistanceOptions().kind(Distance::KL).temperature(4), t},
      {"kl probs", DistanceOptions().kind(Distance::KL).target_is_probs(true), probs},
      {"l1 logits", DistanceOptions().kind(Distance::L1), t},
      {"l2 logits", DistanceOptions().kind(Distance::L2), t},
      {"l1 probs T=2", DistanceOptions().kind(Distance::L1).space(Space::Probs).temperature(2), t},
      {"l2 probs T=2", DistanceOptions().kind(Distance::L2).space(Space::Probs).temperature(2), t},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_gradient_matches([&](const at::Tensor& x) { return distance(x, c.target, c.opts); }, s);
  }
}

TEST(Distance, ParsesNames) {
  EXPECT_EQ(parse_distance("ce"), Distance::CE);
  EXPECT_EQ(parse_distance("KL"), Distance::KL);
  EXPECT_EQ(parse_distance("l1"), Distance::L1);
  EXPECT_EQ(parse_distance("l2"), Distance::L2);
  EXPECT_EQ(parse_distance("mse"), Distance::L2);
  EXPECT_EQ(parse_distance("dkd"), Distance::DKD);
  EXPECT_EQ(parse_space("logits"), Space::Logits);
  EXPECT_EQ(parse_space("probs"), Space::Probs);
  for (auto d : {Distance::CE, Distance::KL, Distance::L1, Distance::L2, Distance::DKD}) {
    EXPECT_EQ(parse_distance(to_string(d)), d);
  }
}

// Expects kdaug::Error whose message contains `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no kdaug::Error, expected one mentioning '" << needle << "'";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Distance, RejectsBadInput) {
  expect_error([] { parse_distance("kld", "objective.augmented.distance"); }, "objective.augmented.distance: unknown distance 'kld'");
  expect_error([] { parse_space("prob"); }, "'prob'");
  const at::Tensor s = mat(kStudent), t = mat(kTeacher);
  expect_error([&] { distance(s, t, DistanceOptions().kind(Distance::KL).temperature(-2)); }, "-2");
  expect_error([&] { distance(s, t, DistanceOptions().kind(Distance::KL).temperature(0)); }, "got 0");
  expect_error([&] { distance(s, t, DistanceOptions().temperature(INFINITY)); }, "inf");
  expect_error([&] { distance(s, t, DistanceOptions().temperature(NAN)); }, "nan");
  expect_error([&] { distance(s, t, DistanceOptions().label_smoothing(1.0)); }, "label_smoothing");
  const at::Tensor labels = torch::tensor({2, 0}, torch::kLong);
  expect_error([&] { distance(s, labels, DistanceOptions().kind(Distance::KL)); }, "kl needs teacher logits");
  expect_error([&] { distance(s, labels, DistanceOptions().temperature(4)); }, "got 4");
  expect_error([&] { distance(s, t, DistanceOptions().kind(Distance::DKD)); }, "dkd_loss");
  expect_error([&] { distance(s, at::softmax(t, 1), DistanceOptions().kind(Distance::L2).target_is_probs(true)); },
               "space probs");
  // Internal contracts (shapes) are c10::Errors.
  EXPECT_THROW(distance(s, mat({{1, 2}}), DistanceOptions().kind(Distance::KL)), c10::Error);
}

}  // namespace
}  // namespace kdaug::distill
