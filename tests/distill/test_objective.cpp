// The Objective: special cases, which views are forwarded, teacher calls, YAML parsing.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/distance.h"
#include "kdaug/distill/dkd.h"
#include "kdaug/distill/features.h"
#include "kdaug/distill/objective.h"
#include "tiny_net.h"

namespace kdaug::distill {
namespace {

using testing::TinyNet;
using testing::tiny_spec;

constexpr int64_t kBatch = 6;

struct Fixture {
  TinyNet student{tiny_spec(), 3, 4};
  TinyNet teacher_net{tiny_spec(), 5, 6};
  Objective::Views views;
  int teacher_calls = 0;
  std::string teacher_input;  // which views tensor the teacher got

  Fixture() {
    at::Generator gen = make_generator(21);
    student->init(gen);
    teacher_net->init(gen);
    views.x = at::rand({kBatch, 1, 8, 8}, gen);
    views.x_aug = at::rand({kBatch, 1, 8, 8}, gen);
    views.x_pert = (views.x_aug + at::randn({kBatch, 1, 8, 8}, gen) * 0.1).clamp(0, 1);
    views.labels = at::randint(0, 4, {kBatch}, gen, at::kLong);
  }

  std::string name_of(const at::Tensor& x) const {
    if (x.is_same(views.x)) return "x";
    if (x.is_same(views.x_aug)) return "x_aug";
    if (x.is_same(views.x_teacher)) return "x_teacher";
    return "?";
  }

  TeacherFn teacher() {
    return [this](const at::Tensor& x) {
      ++teacher_calls;
      teacher_input = name_of(x);
      torch::NoGradGuard g;
      return teacher_net->forward(x);
    };
  }
  FeatureTeacherFn teacher_features() {
    return [this](const at::Tensor& x) {
      ++teacher_calls;
      teacher_input = name_of(x);
      torch::NoGradGuard g;
      return teacher_net->forward_features(x);
    };
  }
  at::Tensor t_logits(const at::Tensor& x) {
    torch::NoGradGuard g;
    return teacher_net->forward(x);
  }
};

double item(const at::Tensor& t) { return t.item<double>(); }

TEST(Objective, AEqualsOneIsPlainCrossEntropy) {
  Fixture f;
  ObjectiveSpec spec;  // synergy defaults, but a = 1 switches off every teacher term
  spec.a = 1.0;
  Objective obj(spec);
  EXPECT_FALSE(obj.needs_teacher());
  EXPECT_EQ(obj.student_views(), std::vector<std::string>{"original"});
  f.views.x_aug = at::Tensor();  // not needed, so may be absent
  f.views.x_pert = at::Tensor();
  const auto r = obj.compute(*f.student, f.views, f.teacher());
  const at::Tensor ce = torch::nn::functional::cross_entropy(f.student->forward(f.views.x), f.views.labels);
  EXPECT_NEAR(item(r.loss), item(ce), 1e-6);
  EXPECT_EQ(f.teacher_calls, 0);
  EXPECT_EQ(f.student->forward_calls, 2);  // the objective's one + ours
  EXPECT_EQ(f.student->rows_seen, 2 * kBatch);
  EXPECT_TRUE(r.student_logits_original.defined());
  EXPECT_FALSE(r.student_logits_original.requires_grad());
  EXPECT_EQ(r.terms.count("augmented"), 0u);
}

TEST(Objective, FullMethodConcatenatesViewsIntoOneForward) {
  Fixture f;
  Objective obj{ObjectiveSpec{}};
  EXPECT_EQ(obj.student_views(), (std::vector<std::string>{"original", "augmented", "perturbed"}));
  EXPECT_EQ(obj.teacher_view(), "x_aug");
  const auto r = obj.compute(*f.student, f.views, f.teacher());
  EXPECT_EQ(f.student->forward_calls, 1);
  EXPECT_EQ(f.student->rows_seen, 3 * kBatch);
  EXPECT_EQ(f.teacher_calls, 1);
  EXPECT_EQ(f.teacher_input, "x_aug");

  const at::Tensor t = f.t_logits(f.views.x_aug);
  const auto kl4 = DistanceOptions().kind(Distance::KL).temperature(4);
  const double ce = item(distance(f.student->forward(f.views.x), f.views.labels, DistanceOptions()));
  const double aug = item(distance(f.student->forward(f.views.x_aug), t, kl4));
  const double pert = item(distance(f.student->forward(f.views.x_pert), t, kl4));
  EXPECT_NEAR(r.terms.at("original"), ce, 1e-5);
  EXPECT_NEAR(r.terms.at("augmented"), aug, 1e-5);
  EXPECT_NEAR(r.terms.at("perturbed"), pert, 1e-5);
  EXPECT_NEAR(item(r.loss), 0.5 * ce + 0.5 * (aug + pert), 1e-5);
  EXPECT_NEAR(r.terms.at("loss"), item(r.loss), 1e-9);

  // The loss trains the student.
  r.loss.backward();
  EXPECT_GT(f.student->fc->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(f.teacher_net->fc->weight.grad().defined());
}

TEST(Objective, ZeroWeightTermRunsNoForwardAndNoTeacherCall) {
  Fixture f;
  ObjectiveSpec spec;
  spec.perturbed.weight = 0;
  f.views.x_pert = at::Tensor();  // would throw if it were read
  Objective obj(spec);
  EXPECT_EQ(obj.student_views(), (std::vector<std::string>{"original", "augmented"}));
  const auto r = obj.compute(*f.student, f.views, f.teacher());
  EXPECT_EQ(f.student->rows_seen, 2 * kBatch);
  EXPECT_EQ(f.teacher_calls, 1);
  EXPECT_EQ(r.terms.count("perturbed"), 0u);

  // Both teacher terms off: the teacher is never called and x' is never forwarded.
  Fixture g;
  ObjectiveSpec ce_only;
  ce_only.augmented.weight = 0;
  ce_only.perturbed.weight = 0;
  g.views.x_aug = at::Tensor();
  g.views.x_pert = at::Tensor();
  Objective(ce_only).compute(*g.student, g.views, nullptr);
  EXPECT_EQ(g.student->rows_seen, kBatch);
  EXPECT_EQ(g.teacher_calls, 0);
}

TEST(Objective, PerViewForwardGivesTheSameLossWithoutBatchNorm) {
  Fixture f;
  ObjectiveSpec spec;
  const auto joint = Objective(spec).compute(*f.student, f.views, f.teacher());
  spec.per_view_forward = true;
  const int64_t before = f.student->forward_calls;
  const auto split = Objective(spec).compute(*f.student, f.views, f.teacher());
  EXPECT_EQ(f.student->forward_calls - before, 3);
  EXPECT_NEAR(item(joint.loss), item(split.loss), 1e-6);
  for (const char* k : {"original", "augmented", "perturbed"}) EXPECT_NEAR(joint.terms.at(k), split.terms.at(k), 1e-6);
}

TEST(Objective, BatchNormStatisticsDependOnConcatenation) {
  // Documented behaviour: in training mode a BN student normalises over all views at once.
  Fixture f;
  TinyNet bn_student(tiny_spec(), 3, 4, /*batch_norm=*/true);
  bn_student->init(make_generator(5));
  bn_student->train();
  ObjectiveSpec spec;
  const double joint = item(Objective(spec).compute(*bn_student, f.views, f.teacher()).loss);
  spec.per_view_forward = true;
  const double split = item(Objective(spec).compute(*bn_student, f.views, f.teacher()).loss);
  EXPECT_GT(std::abs(joint - split), 1e-6);
}

TEST(Objective, HintonKDCallsTheTeacherOnTheOriginals) {
  Fixture f;
  const ObjectiveSpec spec = ObjectiveSpec::parse(
      "objective: {a: 0.3, original: {distance: ce}, augmented: {view: original, distance: kl, temperature: 4}}");
  Objective obj(spec);
  EXPECT_EQ(obj.student_views(), std::vector<std::string>{"original"});
  EXPECT_EQ(obj.teacher_view(), "x");
  f.views.x_aug = at::Tensor();
  f.views.x_pert = at::Tensor();
  const auto r = obj.compute(*f.student, f.views, f.teacher());
  EXPECT_EQ(f.teacher_input, "x");
  EXPECT_EQ(f.student->rows_seen, kBatch);
  const at::Tensor s = f.student->forward(f.views.x);
  const double expected = 0.3 * item(distance(s, f.views.labels, DistanceOptions())) +
                          0.7 * item(distance(s, f.t_logits(f.views.x), DistanceOptions().kind(Distance::KL).temperature(4)));
  EXPECT_NEAR(item(r.loss), expected, 1e-5);
}

TEST(Objective, IndependentTeacherViewNeedsXTeacher) {
  Fixture f;
  ObjectiveSpec spec;
  spec.consistent_teacher = false;
  Objective obj(spec);
  EXPECT_EQ(obj.teacher_view(), "x_teacher");
  EXPECT_THROW(obj.compute(*f.student, f.views, f.teacher()), c10::Error);
  f.views.x_teacher = at::rand({kBatch, 1, 8, 8}, make_generator(9));
  obj.compute(*f.student, f.views, f.teacher());
  EXPECT_EQ(f.teacher_input, "x_teacher");
}

TEST(Objective, SoftTargetsReplaceLabels) {
  Fixture f;
  ObjectiveSpec spec;
  spec.a = 1.0;
  f.views.soft_targets = at::softmax(at::randn({kBatch, 4}, make_generator(2)), 1);
  const auto r = Objective(spec).compute(*f.student, f.views, nullptr);
  const at::Tensor logq = at::log_softmax(f.student->forward(f.views.x), 1);
  EXPECT_NEAR(item(r.loss), item(-(f.views.soft_targets * logq).sum(1).mean()), 1e-6);
}

TEST(Objective, DKDTermMatchesDkdLoss) {
  Fixture f;
  const ObjectiveSpec spec = ObjectiveSpec::parse(
      "{a: 0, augmented: {distance: dkd, temperature: 4, dkd_alpha: 1, dkd_beta: 2}}");
  const auto r = Objective(spec).compute(*f.student, f.views, f.teacher());
  const double expected = item(dkd_loss(f.student->forward(f.views.x_aug), f.t_logits(f.views.x_aug),
                                        f.views.labels, 1, 2, 4));
  EXPECT_NEAR(item(r.loss), expected, 1e-5);
}

TEST(Objective, FeatureTermsUseTapsAndTrainTheAdapter) {
  Fixture f;
  ObjectiveSpec spec = ObjectiveSpec::parse(
      "{a: 0.5, original: {}, hint: {weight: 2, view: augmented, student_tap: 0, teacher_tap: 0},"
      " attention: {weight: 10, view: perturbed}}");
  Objective obj(spec);
  EXPECT_TRUE(obj.needs_features());
  EXPECT_EQ(obj.teacher_view(), "x_aug");
  EXPECT_THROW(obj.compute(*f.student, f.views, f.teacher(), f.teacher_features()), c10::Error);  // not bound
  obj.bind_features(f.student->tap_channels(), f.teacher_net->tap_channels());
  ASSERT_EQ(obj.parameters().size(), 2u);  // the 1x1 adapter 3 -> 5
  EXPECT_EQ(obj.parameters()[0].size(0), 5);
  EXPECT_THROW(obj.compute(*f.student, f.views, f.teacher(), nullptr), c10::Error);  // needs taps

  const auto r = obj.compute(*f.student, f.views, f.teacher(), f.teacher_features());
  EXPECT_EQ(f.teacher_calls, 1);
  EXPECT_EQ(f.student->forward_calls, 1);
  EXPECT_EQ(f.student->rows_seen, 3 * kBatch);

  auto sf = f.student->forward_features(f.views.x_pert);
  models::Features tf;
  {
    torch::NoGradGuard g;
    tf = f.teacher_net->forward_features(f.views.x_aug);
  }
  EXPECT_NEAR(r.terms.at("attention"), item(at_loss(sf.taps, tf.taps)), 1e-6);
  const double ce = item(distance(f.student->forward(f.views.x), f.views.labels, DistanceOptions()));
  EXPECT_NEAR(item(r.loss), 0.5 * ce + 2 * r.terms.at("hint") + 10 * r.terms.at("attention"), 1e-5);
  r.loss.backward();
  EXPECT_TRUE(obj.parameters()[0].grad().defined());

  ObjectiveSpec bad = spec;
  bad.attention.student_taps = {0, 5};
  bad.attention.teacher_taps = {0, 1};
  EXPECT_THROW(Objective(bad).bind_features({3, 4}, {5, 6}), kdaug::Error);
}

TEST(Objective, ParsesTheIssueExample) {
  const ObjectiveSpec s = ObjectiveSpec::parse(
      "objective: {a: 0.5, original: {distance: ce}, augmented: {distance: kl, temperature: 4},"
      " perturbed: {distance: kl, temperature: 4}}");
  EXPECT_DOUBLE_EQ(s.a, 0.5);
  EXPECT_EQ(s.original.distance.kind(), Distance::CE);
  EXPECT_EQ(s.original.target, "labels");
  EXPECT_EQ(s.augmented.distance.kind(), Distance::KL);
  EXPECT_DOUBLE_EQ(s.augmented.distance.temperature(), 4);
  EXPECT_EQ(s.perturbed.target, "teacher");
  EXPECT_DOUBLE_EQ(s.perturbed_weight(), 0.5);
  EXPECT_FALSE(s.per_view_forward);
  EXPECT_TRUE(s.consistent_teacher);
  // Round trip through JSON keeps the meaning (JSON is valid YAML).
  const ObjectiveSpec back = ObjectiveSpec::parse(s.to_json().dump());
  EXPECT_EQ(back.to_json(), s.to_json());
}

TEST(Objective, UnlistedTermsAreOffAndWeightsCompose) {
  const ObjectiveSpec s = ObjectiveSpec::parse(
      "{a: 0.2, original: {}, augmented: {weight: 3, distance: l1, space: probs}, per_view_forward: true}");
  EXPECT_DOUBLE_EQ(s.original_weight(), 0.2);
  EXPECT_DOUBLE_EQ(s.augmented_weight(), 0.8 * 3);
  EXPECT_DOUBLE_EQ(s.perturbed_weight(), 0);
  EXPECT_EQ(s.augmented.distance.space(), Space::Probs);
  EXPECT_TRUE(s.per_view_forward);
}

void expect_parse_error(const std::string& yaml, const std::string& needle) {
  try {
    ObjectiveSpec::parse(yaml);
    ADD_FAILURE() << "no error for " << yaml;
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Objective, RejectsBadRecipes) {
  expect_parse_error("{a: 0.5, augmented: {distance: kl, temprature: 4}}",
                     "objective.augmented.temprature: unknown key (did you mean temperature?)");
  expect_parse_error("{a: 0.5, original: {}, consistent_teachr: true}",
                     "objective.consistent_teachr: unknown key (did you mean consistent_teacher?)");
  expect_parse_error("{a: 0.5, augmented: {zzzzzzzz: 1}}", "objective.augmented.zzzzzzzz: unknown key; known keys:");
  expect_parse_error("{a: 1.5, original: {}}", "objective.a: must be in [0, 1], got 1.5");
  expect_parse_error("{a: 0.5, augmented: {distance: kld}}", "objective.augmented.distance: unknown distance 'kld'");
  expect_parse_error("{a: 0.5, augmented: {temperature: hot}}", "objective.augmented.temperature: expected a number, got 'hot'");
  expect_parse_error("{a: 0.5, augmented: {temperature: -4}}", "objective.augmented.temperature: must be positive and finite, got -4");
  expect_parse_error("{a: 0.5, augmented: {weight: -1}}", "objective.augmented.weight: must be >= 0 and finite, got -1");
  expect_parse_error("{a: 0.5, original: {distance: kl}}", "objective.original.distance: kl needs target teacher");
  expect_parse_error("{a: 0.5, original: {temperature: 4}}", "objective.original.temperature: only used with target teacher, got 4");
  expect_parse_error("{a: 0.5, original: {view: flipped}}", "objective.original.view: unknown view 'flipped'");
  expect_parse_error("{a: 0.5, augmented: {target: teachers}}", "objective.augmented.target: unknown target 'teachers'");
  expect_parse_error("{a: 0, original: {}}", "objective: every term has weight 0");
  expect_parse_error("{a: 0.5, original: ce}", "objective.original: expected a map, got 'ce'");
  expect_parse_error("{a: 0.5, augmented: {}, per_view_forward: maybe}", "objective.per_view_forward: expected true or false, got 'maybe'");
  expect_parse_error("[1, 2]", "objective: expected a map");
  expect_parse_error("{a: 0.5, attention: {p: 0}}", "objective.attention.p: must be positive, got 0");
  expect_parse_error("{a: [1}", "objective: invalid YAML");
}

}  // namespace
}  // namespace kdaug::distill
