// SoftLabelCache: built then read back gives the teacher's outputs for the replayed views; a
// changed teacher, recipe or dataset is never used silently; truncated, unfinished and corrupt
// files are detected; an interrupted build resumes and ends with the same bytes.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/cache.h"
#include "kdaug/distill/teacher.h"
#include "tiny_net.h"

namespace fs = std::filesystem;

namespace kdaug::distill {
namespace {

using testing::TinyNet;
using testing::tiny_spec;

// ctest runs each test in its own process: one folder per process.
std::string temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_cache_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

struct Fixture {
  at::Tensor images;  // uint8 [N, 1, 8, 8]
  augment::Pipeline views;
  std::shared_ptr<Teacher> teacher;
  int64_t calls = 0;  // teacher images computed
  LogitsFn fn;
  CacheKey key;

  explicit Fixture(int64_t n, uint64_t teacher_seed = 1, int64_t k = 3, const std::string& storage = "fp16",
                   int64_t topk = 0) {
    auto gen = make_generator(5);
    images = at::randint(0, 256, {n, 1, 8, 8}, gen, at::TensorOptions().dtype(at::kByte));
    views = augment::Pipeline::from_yaml(
        YAML::Load("[{crop: {padding: 1}}, {rotate: {degrees: 15}}, {hflip: {p: 0.5}}]"), "augment");
    TinyNet net(tiny_spec(1, 8, 4), 6, 8);
    net->init(make_generator(teacher_seed));
    teacher = std::make_shared<Teacher>(net.ptr());
    fn = [this](const at::Tensor& x) {
      calls += x.size(0);
      return (*teacher)(x);
    };
    key.teacher_hash = "teacher-" + std::to_string(teacher_seed);
    key.teacher_options = "precision=fp32 channels_last=0";
    key.augment = views.describe();
    key.augment_hash = hash_bytes_hex(key.augment.data(), key.augment.size());
    key.dataset = dataset_identity("test", images, at::zeros({n}, at::kLong));
    key.num_images = n;
    key.views = k;
    key.num_classes = 4;
    key.storage = storage;
    key.topk = topk;
    key.seed = 7;
  }

  // The teacher's logits for view k of image i, computed from scratch.
  at::Tensor online(const at::Tensor& idx, const at::Tensor& k) const {
    std::vector<at::Tensor> out;
    for (int64_t j = 0; j < idx.size(0); ++j) {
      const int64_t i = idx[j].item<int64_t>();
      const auto seed = at::full({1}, cache_view_seed(key.seed, i, k[j].item<int64_t>()), at::kLong);
      const auto x = augment::to_float_image(images.narrow(0, i, 1));
      out.push_back((*teacher)(views.replay(x, views.sample_params_from_seeds(seed, {1, 8, 8}, x.device()))));
    }
    return at::cat(out);
  }
};

std::string slurp_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(SoftLabelCache, ReadBackGivesTheTeachersOutputsForReplayedViews) {
  const auto dir = temp_dir("readback");
  Fixture f(50);
  const auto path = dir + "/c.slc";
  const auto rep = SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn);
  EXPECT_TRUE(rep.built);
  EXPECT_EQ(f.calls, 50 * 3);
  const auto c = SoftLabelCache::open(path, &f.key);
  EXPECT_EQ(c->file_bytes(), 4096 + 50 * 3 * (8 + 4 * 2));
  const auto idx = at::tensor({0, 7, 49, 7, 23}, at::kLong);
  const auto k = at::tensor({0, 2, 1, 1, 2}, at::kLong);
  const auto got = c->logits(idx, k);
  const auto want = f.online(idx, k);
  ASSERT_EQ(got.sizes(), want.sizes());
  // fp16 keeps 11 bits of mantissa.
  EXPECT_TRUE(at::allclose(got, want, 2e-3, 2e-3)) << (got - want).abs().max().item<double>();
  // Different views of one image really are different images.
  EXPECT_FALSE(at::allclose(c->logits(at::tensor({7, 7}), at::tensor({0, 1})).select(0, 0),
                            c->logits(at::tensor({7, 7}), at::tensor({0, 1})).select(0, 1)));
  // A second ensure reuses the file without calling the teacher.
  f.calls = 0;
  EXPECT_FALSE(SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn).built);
  EXPECT_EQ(f.calls, 0);
  fs::remove_all(dir);
}

TEST(SoftLabelCache, Fp32StorageIsExact) {
  const auto dir = temp_dir("fp32");
  Fixture f(20, 1, 2, "fp32");
  SoftLabelCache::ensure(dir + "/c.slc", f.key, f.images, f.views, f.fn);
  const auto c = SoftLabelCache::open(dir + "/c.slc", &f.key);
  const auto idx = at::arange(20, at::kLong);
  const auto k = idx.remainder(2);
  EXPECT_TRUE(at::allclose(c->logits(idx, k), f.online(idx, k), 1e-6, 1e-6));
  fs::remove_all(dir);
}

TEST(SoftLabelCache, TopKKeepsTheLargestLogitsAndTheRestsMass) {
  const auto dir = temp_dir("topk");
  Fixture f(10, 1, 1, "fp32", 2);
  SoftLabelCache::ensure(dir + "/c.slc", f.key, f.images, f.views, f.fn);
  const auto c = SoftLabelCache::open(dir + "/c.slc", &f.key);
  EXPECT_EQ(f.key.bytes_per_view(), 8 + 3 * 4 + 2 * 2);
  const auto idx = at::arange(10, at::kLong);
  const auto k = at::zeros({10}, at::kLong);
  const auto got = c->logits(idx, k), want = f.online(idx, k);
  const auto [wv, wi] = want.topk(2, 1);
  EXPECT_TRUE(at::allclose(got.gather(1, wi), wv, 1e-5, 1e-5));
  // The two other classes get equal logits that keep their total probability at T = 1.
  const auto pg = got.softmax(1), pw = want.softmax(1);
  EXPECT_TRUE(at::allclose(pg.gather(1, wi), pw.gather(1, wi), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(pg.sum(1), at::ones({10}), 1e-5, 1e-6));
}

TEST(SoftLabelCache, AChangedTeacherRecipeOrDatasetIsNeverUsedSilently) {
  const auto dir = temp_dir("mismatch");
  const auto path = dir + "/c.slc";
  Fixture f(12);
  SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn);

  Fixture other_teacher(12, 2);
  try {
    SoftLabelCache::open(path, &other_teacher.key);
    FAIL() << "a cache of another teacher opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("teacher_hash"), std::string::npos) << e.what();
  }
  CacheKey other_recipe = f.key;
  other_recipe.augment = "rotate(degrees=[-30, 30])";
  other_recipe.augment_hash = hash_bytes_hex(other_recipe.augment.data(), other_recipe.augment.size());
  EXPECT_THROW(SoftLabelCache::open(path, &other_recipe), Error);
  CacheKey other_k = f.key;
  other_k.views = 4;
  EXPECT_THROW(SoftLabelCache::open(path, &other_k), Error);

  // on_mismatch: error refuses; rebuild replaces the file with the new teacher's outputs.
  EXPECT_THROW(SoftLabelCache::ensure(path, other_teacher.key, other_teacher.images, other_teacher.views,
                                      other_teacher.fn, "error"),
               Error);
  const auto rep = SoftLabelCache::ensure(path, other_teacher.key, other_teacher.images, other_teacher.views,
                                          other_teacher.fn, "rebuild");
  EXPECT_TRUE(rep.built);
  EXPECT_NE(rep.reason.find("teacher_hash"), std::string::npos) << rep.reason;
  const auto c = SoftLabelCache::open(path, &other_teacher.key);
  const auto idx = at::tensor({3}, at::kLong), k = at::tensor({1}, at::kLong);
  EXPECT_TRUE(at::allclose(c->logits(idx, k), other_teacher.online(idx, k), 2e-3, 2e-3));
  fs::remove_all(dir);
}

TEST(SoftLabelCache, TruncatedCorruptAndForeignFilesAreDetected) {
  const auto dir = temp_dir("corrupt");
  const auto path = dir + "/c.slc";
  Fixture f(12);
  SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn);
  const auto good = slurp_bytes(path);
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      SoftLabelCache::open(path, &f.key);
      ADD_FAILURE() << "opened a damaged cache, expected: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error(good.substr(0, good.size() - 5), "truncated");
  expect_error(good.substr(0, 20), "truncated");
  auto flipped = good;
  flipped[good.size() - 3] ^= 0x40;
  expect_error(flipped, "checksum");
  auto magic = good;
  magic[0] = 'X';
  expect_error(magic, "not a kdaug soft-label cache");
  auto header = good;
  header[40] = '}';
  expect_error(header, "corrupt header");
  // ensure() rebuilds over a damaged file.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, 100);
  EXPECT_TRUE(SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn).built);
  EXPECT_EQ(slurp_bytes(path), good);
  fs::remove_all(dir);
}

TEST(SoftLabelCache, AnInterruptedBuildResumesAndEndsWithTheSameBytes) {
  const auto dir = temp_dir("resume");
  Fixture f(600, 1, 2);
  // Uninterrupted reference.
  SoftLabelCache::ensure(dir + "/ref.slc", f.key, f.images, f.views, f.fn);
  const auto ref = slurp_bytes(dir + "/ref.slc");

  const auto path = dir + "/c.slc";
  f.calls = 0;
  BuildOptions stop;
  stop.stop_after_images = 1;  // stops after the first chunk (256 images)
  const auto first = SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn, "rebuild", stop);
  EXPECT_FALSE(first.complete);
  EXPECT_FALSE(fs::exists(path));  // nothing half-written under the real name
  EXPECT_TRUE(fs::exists(path + ".partial"));
  EXPECT_THROW(SoftLabelCache::open(path + ".partial", &f.key), Error);  // unfinished
  EXPECT_EQ(f.calls, 256 * 2);

  f.calls = 0;
  const auto second = SoftLabelCache::ensure(path, f.key, f.images, f.views, f.fn);
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(second.resumed_from, 256);
  EXPECT_EQ(f.calls, (600 - 256) * 2);  // only what was missing
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(slurp_bytes(path), ref);
  fs::remove_all(dir);
}

TEST(SoftLabelCache, LookupsOutOfRangeAndBadOptionsAreErrors) {
  const auto dir = temp_dir("range");
  Fixture f(5);
  SoftLabelCache::ensure(dir + "/c.slc", f.key, f.images, f.views, f.fn);
  const auto c = SoftLabelCache::open(dir + "/c.slc", &f.key);
  EXPECT_THROW(c->logits(at::tensor({5}, at::kLong), at::tensor({0}, at::kLong)), Error);
  EXPECT_THROW(c->logits(at::tensor({0}, at::kLong), at::tensor({3}, at::kLong)), Error);
  EXPECT_THROW(CacheOptions::from_yaml(YAML::Load("{views: 0}")), Error);
  EXPECT_THROW(CacheOptions::from_yaml(YAML::Load("{storage: int8}")), Error);
  EXPECT_THROW(CacheOptions::from_yaml(YAML::Load("{on_mismatch: ignore}")), Error);
  try {
    CacheOptions::from_yaml(YAML::Load("{veiws: 4}"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("teacher.cache.veiws"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("views"), std::string::npos) << e.what();
  }
  const auto o = CacheOptions::from_yaml(YAML::Load("{views: 4, storage: fp32, topk: 3}"));
  EXPECT_EQ(o.views, 4);
  EXPECT_EQ(o.storage, "fp32");
  EXPECT_EQ(o.topk, 3);
  // Without augmentation every view is the same image: one view only.
  CacheKey k = f.key;
  EXPECT_THROW(SoftLabelCache::ensure(dir + "/n.slc", k, f.images, augment::Pipeline(), f.fn), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kdaug::distill
