// Views: which view a soft-label cache serves for each objective, and distillation from an fp32
// cache gives the same loss as the online teacher on the same batch.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "../distill/tiny_net.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/cache.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/train/views.h"

namespace fs = std::filesystem;

namespace kdaug::train {
namespace {

using distill::Objective;
using distill::ObjectiveSpec;

TEST(Views, CachedRoleFollowsWhatTheTeacherReads) {
  const Objective synergy{ObjectiveSpec()};
  EXPECT_EQ(cached_role(synergy, false), CachedRole::Augmented);
  const Objective kd(ObjectiveSpec::parse(
      "{a: 0.5, original: {distance: ce}, augmented: {view: original, target: teacher, distance: kl}}"));
  EXPECT_EQ(cached_role(kd, false), CachedRole::Original);
  EXPECT_EQ(cached_role(kd, true), CachedRole::Augmented);  // kd+da: the input is x'
  const Objective own(ObjectiveSpec::parse("{a: 0.5, original: {}, augmented: {}, consistent_teacher: false}"));
  EXPECT_EQ(cached_role(own, false), CachedRole::Independent);
  const Objective hint(ObjectiveSpec::parse("{a: 0.5, original: {}, hint: {weight: 1}}"));
  EXPECT_THROW(cached_role(hint, false), Error);
  const Objective ce(ObjectiveSpec::parse("{a: 1, original: {}}"));
  EXPECT_THROW(cached_role(ce, false), Error);
}

TEST(Views, CachedAndOnlineDistillationGiveTheSameLossOnTheSameBatch) {
  const auto dir = fs::temp_directory_path() / ("kdaug_views_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto gen = make_generator(3);
  const int64_t n = 40;
  const auto images = at::randint(0, 256, {n, 1, 8, 8}, gen, at::TensorOptions().dtype(at::kByte));
  const auto labels = at::randint(0, 4, {n}, gen, at::TensorOptions().dtype(at::kLong));
  auto cfg = std::make_shared<augment::AugmentConfig>(augment::augment_config_from_yaml(YAML::Load(
      "{augment: [{crop: {padding: 1}}, {rotate: {degrees: 15}}, {hflip: {p: 0.5}}],"
      " perturb: [{gaussian_noise: {sigma: 0.1}}]}")));
  distill::testing::TinyNet tnet(distill::testing::tiny_spec(1, 8, 4), 6, 8);
  tnet->init(make_generator(1));
  auto teacher = std::make_shared<distill::Teacher>(tnet.ptr());
  distill::testing::TinyNet student(distill::testing::tiny_spec(1, 8, 4), 4, 6);
  student->init(make_generator(2));

  distill::CacheKey key;
  key.teacher_hash = "tiny";
  key.teacher_options = "fp32";
  key.augment = cfg->augment.describe();
  key.augment_hash = distill::hash_bytes_hex(key.augment.data(), key.augment.size());
  key.dataset = distill::dataset_identity("test", images, labels);
  key.num_images = n;
  key.views = 3;
  key.num_classes = 4;
  key.storage = "fp32";
  const auto path = (dir / "c.slc").string();
  int64_t teacher_images = 0;
  distill::SoftLabelCache::ensure(path, key, images, cfg->augment, [&](const at::Tensor& x) {
    teacher_images += x.size(0);
    return (*teacher)(x);
  });
  CachedTeacher cached;
  cached.cache = distill::SoftLabelCache::open(path, &key);
  // The batch holds dataset positions 10..25; through `origin` they are positions 20..35 of the file.
  cached.origin = at::arange(n, at::kLong).roll(-10);

  auto objective = std::make_shared<Objective>(ObjectiveSpec());
  const auto views = views_for(*objective, false, 9);
  data::Batch b;
  b.indices = at::arange(10, 26, at::kLong);
  const auto file_idx = cached.origin.index_select(0, b.indices);
  b.images = augment::to_float_image(images.index_select(0, file_idx));
  b.labels = labels.index_select(0, file_idx);
  b.epoch = 2;
  b.step = 5;
  make_view_transform(cfg, views, cached)(b);
  ASSERT_NE(b.find("t_cached"), nullptr);
  ASSERT_NE(b.find("x_aug"), nullptr);
  ASSERT_NE(b.find("x_pert"), nullptr);

  const auto cached_step = objective_step(objective, nullptr);  // no teacher at all
  const auto online_step = objective_step(objective, teacher);
  data::Batch online = b;
  online.extra.erase(std::remove_if(online.extra.begin(), online.extra.end(),
                                    [](const auto& e) { return e.first == "t_cached"; }),
                     online.extra.end());
  const double from_cache = cached_step(*student, b).loss.item<double>();
  const double from_teacher = online_step(*student, online).loss.item<double>();
  EXPECT_NEAR(from_cache, from_teacher, 1e-5 * std::abs(from_teacher));
  // A wrong teacher output would change the loss: the check can fail.
  data::Batch wrong = b;
  for (auto& e : wrong.extra) {
    if (e.first == "t_cached") e.second = e.second * -5.0;
  }
  EXPECT_GT(std::abs(cached_step(*student, wrong).loss.item<double>() - from_teacher), 1e-3);
  // Without a cache and without a teacher, the step refuses.
  EXPECT_THROW(cached_step(*student, online), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kdaug::train
