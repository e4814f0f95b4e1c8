// Fidelity: a model agrees with itself completely, and a hand example.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/fidelity.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

TEST(EvalFidelity, ModelAgreesWithItself) {
  LinearClassifier model(1, 6, 6, 5, 11);
  const auto test = quadrant_dataset(120, 6, 6, 4);
  const auto r = evaluate_fidelity(model, model, test, 50);
  EXPECT_EQ(r.n, 120);
  EXPECT_DOUBLE_EQ(r.agreement, 1.0);
  EXPECT_NEAR(r.kl, 0.0, 1e-12);
}

TEST(EvalFidelity, HandExample) {
  // Sample 0: teacher softmax (1/4, 3/4), student (3/4, 1/4): they disagree and
  //   KL = 1/4 ln(1/3) + 3/4 ln 3 = ln(3)/2.
  // Sample 1: identical logits: agree, KL 0.
  const double l3 = std::log(3.0);
  const auto t = at::tensor({0.0, l3, 1.0, 2.0}, at::kDouble).view({2, 2});
  const auto s = at::tensor({l3, 0.0, 1.0, 2.0}, at::kDouble).view({2, 2});
  const auto r = fidelity_from_logits(t, s);
  EXPECT_EQ(r.n, 2);
  EXPECT_DOUBLE_EQ(r.agreement, 0.5);
  EXPECT_NEAR(r.kl, l3 / 4, 1e-12);
  // KL is not symmetric in general, but it is for this swapped pair.
  EXPECT_NEAR(fidelity_from_logits(s, t).kl, l3 / 4, 1e-12);
  // Adding a constant to a row changes nothing.
  EXPECT_NEAR(fidelity_from_logits(t + 5, s).kl, l3 / 4, 1e-12);
  const auto j = to_json(r);
  EXPECT_DOUBLE_EQ(j["agreement"].get<double>(), 0.5);
  EXPECT_EQ(j["n"], 2);
}

TEST(EvalFidelity, DifferentModelsThroughTheDataset) {
  LinearClassifier a(1, 6, 6, 4, 1), b(1, 6, 6, 4, 2);
  const auto test = quadrant_dataset(200, 6, 6, 5);
  const auto r = evaluate_fidelity(a, b, test, 64, 150);
  EXPECT_EQ(r.n, 150);
  EXPECT_LT(r.agreement, 1.0);
  EXPECT_GT(r.kl, 0.0);
}

TEST(EvalFidelity, MismatchedShapesThrow) {
  EXPECT_THROW(fidelity_from_logits(at::zeros({3, 4}), at::zeros({3, 5})), kdaug::Error);
  LinearClassifier a(1, 6, 6, 4), b(1, 6, 6, 5);
  const auto test = quadrant_dataset(10, 6, 6, 5);
  try {
    evaluate_fidelity(a, b, test);
    FAIL() << "class-count mismatch accepted";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 classes but the student has 5"), std::string::npos) << e.what();
  }
}
