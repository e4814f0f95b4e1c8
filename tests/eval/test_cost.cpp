// Cost: parameter and MAC counts, checkpoint size, latency (only its sanity: no timing asserts).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>
#include <fstream>

#include "eval/tiny_models.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/cost.h"
#include "kdaug/models/registry.h"

using namespace kdaug;
using namespace kdaug::eval;
using namespace kdaug::eval::testing;

TEST(EvalCost, CountsAndLatencyOfATinyModel) {
  SmallCnn model(1, 12, 12, 4);
  model.train();
  CostOptions o;
  o.batch_sizes = {1, 16};
  o.warmup = 1;
  o.repeats = 3;
  const auto r = measure_cost(model, o);
  EXPECT_EQ(r.params, (8 * 9 + 8) + (8 * 6 * 6 * 4 + 4));
  EXPECT_EQ(r.macs, -1);  // not a zoo model
  EXPECT_EQ(r.checkpoint_bytes, -1);
  EXPECT_EQ(r.device, "cpu");
  EXPECT_GE(r.threads, 1);
  ASSERT_EQ(r.latency.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& l = r.latency[i];
    EXPECT_EQ(l.batch_size, o.batch_sizes[i]);
    EXPECT_GT(l.median_ms, 0);
    EXPECT_GE(l.runs, 1);
    EXPECT_LE(l.runs, 3);
    EXPECT_NEAR(l.per_image_ms, l.median_ms / l.batch_size, 1e-12);
    EXPECT_NEAR(l.images_per_s, 1000.0 * l.batch_size / l.median_ms, 1e-6);
  }
  EXPECT_TRUE(model.is_training());
  const auto j = to_json(r);
  EXPECT_TRUE(j["macs"].is_null());
  EXPECT_EQ(j["latency"].size(), 2u);
}

TEST(EvalCost, ZooModelMacsAndCheckpointBytes) {
  models::ModelSpec spec;
  spec.name = "resnet8";
  auto model = models::make_model(spec, 1);
  const auto path = (std::filesystem::temp_directory_path() / ("kdaug_test_cost_" + std::to_string(::getpid()) + ".bin")).string();
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(12345, 'x');
  }
  CostOptions o;
  o.checkpoint = path;
  o.batch_sizes = {2};
  o.warmup = 0;
  o.repeats = 1;
  const auto r = measure_cost(*model, o);
  const auto expected = models::model_cost(spec);
  EXPECT_EQ(r.params, expected.params);
  EXPECT_EQ(r.macs, expected.macs);
  EXPECT_GT(r.macs, r.params);  // a conv net reuses its weights at every position
  EXPECT_EQ(r.checkpoint_bytes, 12345);
  EXPECT_EQ(r.latency.at(0).runs, 1);
  std::filesystem::remove(path);
}

TEST(EvalCost, BadOptionsThrowWithTheValue) {
  SmallCnn model(1, 8, 8, 4);
  CostOptions o;
  o.batch_sizes = {0};
  try {
    measure_cost(model, o);
    FAIL() << "batch size 0 accepted";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }
  o = {};
  o.repeats = 0;
  EXPECT_THROW(measure_cost(model, o), kdaug::Error);
  o = {};
  o.checkpoint = "/nonexistent/kdaug.pt";
  EXPECT_THROW(measure_cost(model, o), kdaug::Error);
}
