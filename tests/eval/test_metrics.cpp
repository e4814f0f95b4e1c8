#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/metrics.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

namespace {
// 6 samples, 3 classes. Predictions (argmax): 0,1,1,1,0,2; labels 0,0,1,1,2,2.
at::Tensor hand_logits() {
  return at::tensor({2.0f, 0.0f, 0.0f,  //
                     0.0f, 1.0f, 0.0f,  //
                     0.0f, 3.0f, 1.0f,  //
                     1.0f, 2.0f, 0.0f,  //
                     1.0f, 0.0f, 0.5f,  //
                     0.0f, 0.0f, 4.0f})
      .view({6, 3});
}
at::Tensor hand_labels() { return at::tensor({0, 0, 1, 1, 2, 2}, at::kLong); }

double hand_nll() {
  const auto l = hand_logits();
  const auto y = hand_labels();
  double sum = 0;
  for (int i = 0; i < 6; ++i) {
    double z = 0;
    for (int k = 0; k < 3; ++k) z += std::exp(l[i][k].item<double>());
    sum += -(l[i][y[i].item<int64_t>()].item<double>() - std::log(z));
  }
  return sum / 6;
}
}  // namespace

TEST(EvalMetrics, ConfusionAndPerClassOnHandExample) {
  const auto r = report_from_logits(hand_logits(), hand_labels(), 3);
  EXPECT_EQ(r.n, 6);
  EXPECT_NEAR(r.accuracy, 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.nll, hand_nll(), 1e-6);
  const auto expected = at::tensor({1, 1, 0, 0, 2, 0, 1, 0, 1}, at::kLong).view({3, 3});
  EXPECT_TRUE(r.confusion.equal(expected)) << r.confusion;
  ASSERT_EQ(r.per_class_accuracy.size(), 3u);
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[0], 0.5);
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[1], 1.0);
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[2], 0.5);
}

TEST(EvalMetrics, ClassWithoutSamplesIsNaNAndNullInJson) {
  const auto r = report_from_logits(hand_logits().narrow(0, 0, 4), hand_labels().narrow(0, 0, 4), 3);
  EXPECT_TRUE(std::isnan(r.per_class_accuracy[2]));
  const auto j = to_json(r);
  EXPECT_TRUE(j["per_class_accuracy"][2].is_null());
  EXPECT_EQ(j["confusion"][1][1].get<int64_t>(), 2);
}

TEST(EvalMetrics, EvaluateThroughModelMatchesLogits) {
  TableClassifier model(hand_logits());
  const auto d = index_dataset(hand_labels(), 3);
  for (int64_t bs : {1, 4, 500}) {
    EvalOptions o;
    o.batch_size = bs;
    const auto r = evaluate(model, d, o);
    EXPECT_NEAR(r.accuracy, 4.0 / 6.0, 1e-12) << "batch " << bs;
    EXPECT_NEAR(r.nll, hand_nll(), 1e-6);
  }
  EvalOptions o;
  o.limit = 2;
  const auto r = evaluate(model, d, o);
  EXPECT_EQ(r.n, 2);
  EXPECT_NEAR(r.accuracy, 0.5, 1e-12);
}

TEST(EvalMetrics, PredictLogitsAcceptsUint8AndFloatAndRestoresMode) {
  LinearClassifier model(1, 4, 4, 3, 7);
  model.train();
  auto gen = make_generator(1);
  auto u8 = at::randint(256, {10, 1, 4, 4}, gen, at::kLong).to(at::kByte);
  const auto a = predict_logits(model, u8, 3);
  const auto b = predict_logits(model, u8.to(at::kFloat) / 255.0, 10);
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{10, 3}));
  EXPECT_TRUE(at::allclose(a, b, 1e-5, 1e-6));
  EXPECT_TRUE(model.is_training());
  EXPECT_EQ(a.device().type(), c10::kCPU);
}

TEST(EvalMetrics, MarkdownNamesClasses) {
  const auto r = report_from_logits(hand_logits(), hand_labels(), 3);
  const auto md = to_markdown(r, {"cat", "dog"});
  EXPECT_NE(md.find("| cat | 50.00% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| dog | 100.00% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2 | 50.00% |"), std::string::npos) << md;  // unnamed class: its index
  EXPECT_NE(md.find("66.67%"), std::string::npos) << md;
}

TEST(EvalMetrics, BadInputsThrowWithTheValue) {
  auto expect_msg = [](const std::function<void()>& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no exception, expected one mentioning " << part;
    } catch (const kdaug::Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_msg([] { report_from_logits(hand_logits(), at::tensor({0, 0, 1, 1, 2, 7}, at::kLong), 3); }, "7");
  expect_msg([] { report_from_logits(hand_logits(), at::tensor({0, 0, 1}, at::kLong), 3); }, "[3]");
  expect_msg([] { report_from_logits(hand_logits(), hand_labels(), 5); }, "5");
  TableClassifier model(hand_logits());
  const auto d = index_dataset(hand_labels(), 3);
  EvalOptions o;
  o.batch_size = 0;
  expect_msg([&] { evaluate(model, d, o); }, "batch_size must be > 0, got 0");
  o.batch_size = 2;
  o.limit = -3;
  expect_msg([&] { evaluate(model, d, o); }, "-3");
  auto d4 = index_dataset(hand_labels(), 4);
  expect_msg([&] { evaluate(model, d4, {}); }, "4 classes");
}

// On the CPU the forward pass takes a large batch in chunks (speed): same logits as one pass.
TEST(EvalMetrics, PredictLogitsOfALargeBatchEqualsOneForwardPass) {
  SmallCnn model(1, 12, 12, 4);
  model.eval();
  const auto d = quadrant_dataset(150, 12, 12, 4);
  const auto logits = predict_logits(model, d.images, 150);
  at::Tensor ref;
  {
    c10::InferenceMode guard;
    ref = model.forward(d.images.to(at::kFloat) / 255.0);
  }
  ASSERT_EQ(logits.sizes(), ref.sizes());
  EXPECT_TRUE(at::allclose(logits, ref, 1e-5, 1e-6)) << (logits - ref).abs().max().item<double>();
}
