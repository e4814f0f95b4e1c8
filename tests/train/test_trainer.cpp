// Trainer: learning on a tiny real subset, resume == uninterrupted, determinism, schedules,
// option validation.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <unistd.h>
#include <sstream>

#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"
#include "kdaug/models/checkpoint.h"
#include "kdaug/models/registry.h"
#include "kdaug/train/trainer.h"

namespace fs = std::filesystem;
using namespace kdaug;

namespace {
const data::Splits& tiny_data() {
  static const data::Splits s = [] {
    data::DataOptions o;
    o.val_size = 256;
    o.train_limit = 768;
    o.test_limit = 256;
    return data::load_splits(o);
  }();
  return s;
}
models::Classifier tiny_model(uint64_t seed = 1) {
  models::ModelSpec spec;
  spec.name = "resnet8";
  return models::make_model(spec, seed);
}
train::TrainOptions tiny_options(const std::string& dir) {
  train::TrainOptions o;
  o.epochs = 3;
  o.batch_size = 64;
  o.optim.lr = 0.05;
  o.seed = 7;
  o.run_dir = dir;
  fs::remove_all(dir);
  return o;
}
std::string tmp(const std::string& n) { return (fs::temp_directory_path() / ("kdaug_train_" + n + "_" + std::to_string(::getpid()))).string(); }
at::Tensor flat_params(models::ClassifierImpl& m) {
  std::vector<at::Tensor> ps;
  for (auto& p : m.parameters()) ps.push_back(p.detach().flatten());
  for (auto& b : m.buffers()) ps.push_back(b.detach().flatten().to(at::kFloat));
  return at::cat(ps);
}
}  // namespace

TEST(Trainer, LossFallsAndBeatsChance) {
  std::ostringstream log;
  auto o = tiny_options(tmp("learn"));
  train::Trainer t(tiny_model(), o, log);
  auto r = t.fit(tiny_data().train, &tiny_data().val);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GT(r.best_val_acc, 0.4);  // 10 classes: chance is 0.1
  EXPECT_TRUE(fs::exists(o.run_dir + "/metrics.jsonl"));
  EXPECT_NE(log.str().find("img/s"), std::string::npos);
  fs::remove_all(o.run_dir);
}

TEST(Trainer, Bf16ChannelsLastLearns) {
  // Mixed precision: bf16 convolutions under autocast, fp32 weights and optimiser state.
  std::ostringstream log;
  auto o = tiny_options(tmp("bf16"));
  o.precision = "bf16";
  o.channels_last = true;
  train::Trainer t(tiny_model(), o, log);
  auto r = t.fit(tiny_data().train, &tiny_data().val);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GT(r.best_val_acc, 0.4);
  for (auto& p : t.model().parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat);
    if (p.dim() == 4) EXPECT_TRUE(p.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
  // The checkpoint loads into an ordinary (NCHW, fp32) model.
  auto loaded = models::load_model(r.last_checkpoint, c10::kCPU);
  EXPECT_EQ(loaded.spec.name, "resnet8");
  fs::remove_all(o.run_dir);
}

TEST(Trainer, ProfileTimesEveryPhase) {
  std::ostringstream log;
  auto o = tiny_options(tmp("profile"));
  o.epochs = 1;
  o.max_steps_per_epoch = 4;
  o.profile = true;
  train::Trainer t(tiny_model(), o, log);
  t.set_batch_transform([](data::Batch& b) { b.images = b.images.flip({3}); });
  ASSERT_NE(t.profiler(), nullptr);
  t.fit(tiny_data().train, nullptr);
  const auto ph = t.profiler()->phases();
  for (const char* name : {"data wait", "augment + views", "student forward + loss", "backward", "optimiser"}) {
    ASSERT_TRUE(ph.count(name)) << name;
    EXPECT_GE(ph.at(name).seconds, 0.0) << name;
  }
  EXPECT_EQ(ph.at("backward").calls, 4);
  EXPECT_EQ(t.profiler()->steps(), 4);
  EXPECT_GT(ph.at("backward").seconds, 0.0);
  EXPECT_TRUE(ph.at("augment + views").background);  // prefetching: overlapped with training
  EXPECT_NE(log.str().find("| backward |"), std::string::npos) << log.str();
  EXPECT_TRUE(fs::exists(o.run_dir + "/profile.json"));
  // Off by default: no profiler, no table.
  auto plain = tiny_options(tmp("noprofile"));
  EXPECT_EQ(train::Trainer(tiny_model(), plain, log).profiler(), nullptr);
  fs::remove_all(o.run_dir);
}

TEST(Trainer, ResumeEqualsUninterrupted) {
  std::ostringstream log;
  auto full = tiny_options(tmp("full"));
  train::Trainer a(tiny_model(), full, log);
  a.fit(tiny_data().train, &tiny_data().val);

  auto part = tiny_options(tmp("part"));
  part.stop_after_epoch = 1;
  {
    train::Trainer b(tiny_model(), part, log);
    auto r = b.fit(tiny_data().train, &tiny_data().val);
    ASSERT_EQ(r.history.size(), 1u);
  }
  part.stop_after_epoch = 0;
  part.resume = true;
  train::Trainer c(tiny_model(99), part, log);  // different init: everything must come from the checkpoint
  auto r = c.fit(tiny_data().train, &tiny_data().val);
  EXPECT_EQ(r.history.size(), 3u);
  EXPECT_TRUE(at::equal(flat_params(a.model()), flat_params(c.model())));
  fs::remove_all(full.run_dir);
  fs::remove_all(part.run_dir);
}

TEST(Trainer, SameSeedSameNumbers) {
  std::ostringstream log;
  auto o1 = tiny_options(tmp("det1"));
  o1.epochs = 1;
  auto o2 = tiny_options(tmp("det2"));
  o2.epochs = 1;
  train::Trainer a(tiny_model(), o1, log), b(tiny_model(), o2, log);
  auto ra = a.fit(tiny_data().train, nullptr);
  auto rb = b.fit(tiny_data().train, nullptr);
  EXPECT_EQ(ra.history[0].train_loss, rb.history[0].train_loss);
  EXPECT_TRUE(at::equal(flat_params(a.model()), flat_params(b.model())));
  fs::remove_all(o1.run_dir);
  fs::remove_all(o2.run_dir);
}

TEST(Trainer, ResumeRejectsAnotherModel) {
  std::ostringstream log;
  auto o = tiny_options(tmp("other"));
  o.epochs = 1;
  o.max_steps_per_epoch = 2;
  train::Trainer(tiny_model(), o, log).fit(tiny_data().train, nullptr);
  models::ModelSpec spec;
  spec.name = "resnet14";
  o.resume = true;
  o.epochs = 2;
  train::Trainer t(models::make_model(spec, 1), o, log);
  try {
    t.fit(tiny_data().train, nullptr);
    FAIL() << "no error";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("resnet8"), std::string::npos) << e.what();
  }
  fs::remove_all(o.run_dir);
}

TEST(Schedule, CosineWarmupStep) {
  train::ScheduleOptions s;
  EXPECT_DOUBLE_EQ(train::lr_at(s, 0.1, 0, 100, 10), 0.1);
  EXPECT_NEAR(train::lr_at(s, 0.1, 99, 100, 10), 0.0, 1e-12);
  EXPECT_NEAR(train::lr_at(s, 0.1, 49, 99, 10), 0.05, 1e-3);
  s.warmup_epochs = 1;
  EXPECT_NEAR(train::lr_at(s, 0.1, 0, 100, 10), 0.01, 1e-12);
  EXPECT_NEAR(train::lr_at(s, 0.1, 9, 100, 10), 0.1, 1e-12);
  train::ScheduleOptions st;
  st.kind = "step";
  st.milestones = {2, 4};
  EXPECT_DOUBLE_EQ(train::lr_at(st, 0.1, 19, 60, 10), 0.1);
  EXPECT_NEAR(train::lr_at(st, 0.1, 20, 60, 10), 0.01, 1e-12);
  EXPECT_NEAR(train::lr_at(st, 0.1, 45, 60, 10), 0.001, 1e-12);
}

TEST(Options, BadValuesNamed) {
  train::OptimizerOptions o;
  o.lr = std::numeric_limits<double>::infinity();
  EXPECT_THROW(train::validate(o), kdaug::Error);
  o.lr = 0.1;
  o.name = "lamb";
  try {
    train::validate(o);
    FAIL();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lamb"), std::string::npos);
  }
  train::TrainOptions t;
  t.run_dir = "x";
  t.epochs = 0;
  EXPECT_THROW(train::validate(t), kdaug::Error);
  t.epochs = 1;
  t.batch_size = 0;
  EXPECT_THROW(train::validate(t), kdaug::Error);
  train::ScheduleOptions s;
  s.kind = "linear";
  EXPECT_THROW(train::validate(s), kdaug::Error);
  t.batch_size = 8;
  t.precision = "fp16";
  try {
    train::validate(t);
    FAIL();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp16"), std::string::npos);
  }
}
