// FGSM and PGD: the analytic FGSM step on a normalising linear model (eps in pixel units),
// projection and clamping, PGD at least as strong as FGSM, and seeded random starts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/adversarial.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

namespace {
// logits = W * flatten((x - mean) / std) + b: normalises its input like the zoo's models, so
// the gradient with respect to the pixels is the normalised one divided by std.
class NormalizedLinear : public models::ClassifierImpl {
 public:
  NormalizedLinear(int64_t c, int64_t h, int64_t w, int64_t k, double mean, double std, uint64_t seed)
      : ClassifierImpl(tiny_spec(c, h, w, k, "normalized_linear")) {
    spec_.mean.assign(static_cast<size_t>(c), mean);
    spec_.std.assign(static_cast<size_t>(c), std);
    auto gen = make_generator(seed);
    weight = register_parameter("weight", at::randn({k, c * h * w}, gen, at::kFloat));
    bias = register_parameter("bias", at::randn({k}, gen, at::kFloat) * 0.1);
  }
  at::Tensor forward(const at::Tensor& x) override {
    const auto z = (x - spec_.mean[0]) / spec_.std[0];
    return at::addmm(bias, z.reshape({x.size(0), -1}), weight.t());
  }
  models::Features forward_features(const at::Tensor& x) override { return {{x}, forward(x)}; }
  std::vector<int64_t> tap_channels() const override { return {spec_.in_channels}; }
  at::Tensor weight, bias;
};

struct Trained {
  SmallCnn model{1, 12, 12, 4};
  data::Dataset test = quadrant_dataset(200, 12, 12, 2);
  Trained() { quick_train(model, quadrant_dataset(256, 12, 12, 1), 2, 3); }
};
Trained& trained() {
  static Trained t;
  return t;
}
at::Tensor images01(const data::Dataset& d, int64_t n) { return d.images.narrow(0, 0, n).to(at::kFloat) / 255.0; }
}  // namespace

TEST(EvalAdversarial, FgsmOnLinearModelIsTheAnalyticStep) {
  NormalizedLinear model(1, 5, 5, 3, 0.3, 0.25, 4);
  auto gen = make_generator(9);
  const auto x = at::rand({6, 1, 5, 5}, gen, at::kFloat) * 0.8 + 0.1;  // away from 0 and 1
  const auto y = at::tensor({0, 1, 2, 0, 1, 2}, at::kLong);
  const double eps = 8.0 / 255;
  const auto xa = fgsm(model, x, y, eps);
  // d CE / d x = (softmax(logits) - onehot(y)) W / std, per sample; its sign ignores std > 0.
  const auto w = model.weight.detach().to(at::kDouble);
  const auto z = (x.to(at::kDouble) - 0.3) / 0.25;
  const auto p = at::softmax(at::addmm(model.bias.detach().to(at::kDouble), z.reshape({6, -1}), w.t()), 1);
  const auto g = (p - at::one_hot(y, 3).to(at::kDouble)).mm(w) / 0.25;
  const auto expected = (x.to(at::kDouble) + eps * g.sign().view({6, 1, 5, 5})).clamp(0, 1);
  EXPECT_TRUE(at::allclose(xa.to(at::kDouble), expected, 0, 1e-6))
      << (xa.to(at::kDouble) - expected).abs().max().item<double>();
  // eps is in pixel units: every value moves by exactly eps (not eps * std).
  EXPECT_NEAR((xa - x).abs().max().item<double>(), eps, 1e-6);
  EXPECT_NEAR((xa - x).abs().min().item<double>(), eps, 1e-6);
  // The attack raises the loss of every sample (linear model: first-order exact direction).
  const auto ce = [&](const at::Tensor& v) {
    torch::NoGradGuard ng;
    return at::cross_entropy_loss(model.forward(v), y, {}, at::Reduction::None);
  };
  EXPECT_TRUE((ce(xa) > ce(x)).all().item<bool>());
  // Parameters' gradients are not touched, the mode is restored.
  EXPECT_FALSE(model.weight.grad().defined());
}

TEST(EvalAdversarial, ClampsToUnitRangeAndStaysInTheBall) {
  NormalizedLinear model(1, 4, 4, 3, 0.5, 0.5, 2);
  auto x = at::zeros({4, 1, 4, 4});
  x[1].fill_(1.0);
  x[2].fill_(0.01);
  x[3].fill_(0.5);
  const auto y = at::tensor({0, 1, 2, 0}, at::kLong);
  for (double eps : {0.02, 0.3}) {
    const auto a = fgsm(model, x, y, eps);
    PgdOptions po;
    po.eps = eps;
    po.steps = 5;
    po.restarts = 2;
    const auto b = pgd(model, x, y, po);
    for (const auto& xa : {a, b}) {
      EXPECT_GE(xa.min().item<float>(), 0.0f);
      EXPECT_LE(xa.max().item<float>(), 1.0f);
      EXPECT_LE((xa - x).abs().max().item<double>(), eps + 1e-6);
    }
  }
  // eps 0 changes nothing.
  EXPECT_TRUE(at::equal(fgsm(model, x, y, 0), x));
  PgdOptions zero;
  zero.eps = 0;
  EXPECT_TRUE(at::equal(pgd(model, x, y, zero), x));
}

TEST(EvalAdversarial, PgdIsAtLeastAsStrongAsFgsmOnATrainedModel) {
  auto& t = trained();
  AdversarialOptions o;
  o.eps = {0.05, 0.3};  // 0.3: strong enough that PGD flips some images of this easy toy task on every run
  o.pgd_steps = 10;
  o.batch_size = 64;
  o.limit = 0;
  const auto r = evaluate_adversarial(t.model, t.test, o);
  EXPECT_EQ(r.n, 200);
  EXPECT_GT(r.clean_accuracy, 0.9);
  ASSERT_EQ(r.results.size(), 4u);
  for (size_t e = 0; e < 2; ++e) {
    const auto& f = r.results[2 * e];
    const auto& p = r.results[2 * e + 1];
    EXPECT_EQ(f.attack, "fgsm");
    EXPECT_EQ(p.attack, "pgd");
    EXPECT_EQ(p.steps, 10);
    EXPECT_LE(f.accuracy, r.clean_accuracy);
    EXPECT_LE(p.accuracy, f.accuracy) << "eps " << f.eps;
  }
  EXPECT_LT(r.results[3].accuracy, r.clean_accuracy);  // the strong attack does something
  EXPECT_LE(r.results[3].accuracy, r.results[1].accuracy);  // larger eps, lower accuracy
  // Also per image: PGD's loss is at least FGSM's on most images.
  const auto x = images01(t.test, 100);
  const auto y = t.test.labels.narrow(0, 0, 100);
  PgdOptions po;
  po.eps = 0.1;
  po.steps = 10;
  const auto ce = [&](const at::Tensor& v) {
    torch::NoGradGuard ng;
    return at::cross_entropy_loss(t.model.forward(v), y);
  };
  EXPECT_GE(ce(pgd(t.model, x, y, po)).item<double>(), ce(fgsm(t.model, x, y, 0.1)).item<double>());
  const auto j = to_json(r);
  EXPECT_DOUBLE_EQ(j["results"][1]["eps_255"].get<double>(), 0.05 * 255);
  EXPECT_EQ(j["results"].size(), 4u);
}

TEST(EvalAdversarial, RandomStartsAndRestartsAreSeeded) {
  auto& t = trained();
  const auto x = images01(t.test, 32);
  const auto y = t.test.labels.narrow(0, 0, 32);
  PgdOptions po;
  po.eps = 0.1;
  po.steps = 2;
  po.step_size = 0.01;  // small steps: the random start still shows in the result
  po.restarts = 3;
  po.seed = 5;
  const auto a = pgd(t.model, x, y, po);
  const auto b = pgd(t.model, x, y, po);
  EXPECT_TRUE(at::equal(a, b));
  po.seed = 6;
  EXPECT_FALSE(at::equal(a, pgd(t.model, x, y, po)));
  // Without a random start the seed is irrelevant.
  po.random_start = false;
  const auto c = pgd(t.model, x, y, po);
  po.seed = 5;
  EXPECT_TRUE(at::equal(c, pgd(t.model, x, y, po)));
  // The whole report is a function of the seed.
  AdversarialOptions o;
  o.eps = {0.1};
  o.fgsm = false;
  o.pgd_steps = 2;
  o.pgd_step_size = 0.01;
  o.restarts = 2;
  o.limit = 64;
  o.seed = 3;
  const auto r1 = evaluate_adversarial(t.model, t.test, o);
  const auto r2 = evaluate_adversarial(t.model, t.test, o);
  ASSERT_EQ(r1.results.size(), 1u);
  EXPECT_EQ(r1.results[0].accuracy, r2.results[0].accuracy);
  EXPECT_EQ(r1.results[0].restarts, 2);
  EXPECT_EQ(r1.n, 64);
}

TEST(EvalAdversarial, RestoresTrainingModeAndLeavesGradientsAlone) {
  auto& t = trained();
  for (auto& p : t.model.parameters()) p.mutable_grad() = at::zeros_like(p);
  t.model.train();
  const auto x = images01(t.test, 8);
  const auto y = t.test.labels.narrow(0, 0, 8);
  PgdOptions po;
  po.steps = 2;
  pgd(t.model, x, y, po);
  fgsm(t.model, x, y, 0.1);
  EXPECT_TRUE(t.model.is_training());
  t.model.eval();
  for (const auto& p : t.model.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().abs().max().item<float>(), 0.0f);  // autograd::grad, not backward()
  }
}

TEST(EvalAdversarial, BadOptionsThrowWithTheValue) {
  auto& t = trained();
  const auto x = images01(t.test, 4);
  const auto y = t.test.labels.narrow(0, 0, 4);
  try {
    fgsm(t.model, x, y, -0.5);
    FAIL() << "negative eps accepted";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("-0.5"), std::string::npos) << e.what();
  }
  PgdOptions po;
  po.steps = 0;
  EXPECT_THROW(pgd(t.model, x, y, po), kdaug::Error);
  po = {};
  po.restarts = 0;
  EXPECT_THROW(pgd(t.model, x, y, po), kdaug::Error);
  EXPECT_THROW(fgsm(t.model, x, y.narrow(0, 0, 3), 0.1), kdaug::Error);
  AdversarialOptions o;
  o.eps = {0.1, -1};
  EXPECT_THROW(evaluate_adversarial(t.model, t.test, o), kdaug::Error);
}

// On the CPU the gradients of a large batch are taken in chunks (speed); each image's attack
// depends on that image alone, so a batch gives what its slices give.
TEST(EvalAdversarial, PgdOnALargeBatchEqualsPgdOnItsSlices) {
  auto& t = trained();
  const auto x = images01(t.test, 150);
  const auto y = t.test.labels.narrow(0, 0, 150);
  PgdOptions po;
  po.eps = 0.1;
  po.steps = 3;
  po.random_start = false;
  const auto whole = pgd(t.model, x, y, po);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < 150; i += 10) parts.push_back(pgd(t.model, x.narrow(0, i, 10), y.narrow(0, i, 10), po));
  const auto sliced = at::cat(parts, 0);
  // Equal up to a sign flip of a gradient component that is zero up to rounding.
  const double differing = whole.ne(sliced).to(at::kDouble).mean().item<double>();
  EXPECT_LT(differing, 1e-3);
  EXPECT_TRUE(at::allclose(fgsm(t.model, x, y, 0.05), at::cat({fgsm(t.model, x.narrow(0, 0, 70), y.narrow(0, 0, 70), 0.05),
                                                               fgsm(t.model, x.narrow(0, 70, 80), y.narrow(0, 70, 80), 0.05)}),
                           0, 1e-6));
}
