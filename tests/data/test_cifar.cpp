// Tests for the CIFAR-10/100 binary reader and the named CIFAR datasets, on tiny generated files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "data_test_util.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"

using kdaug::data::DataOptions;
using kdaug::data::Dataset;
using namespace kdaug_test;

namespace {

// CIFAR-10 label of sample i in the generated files.
uint8_t label10(int64_t i) { return static_cast<uint8_t>((i * 7) % 10); }

// Writes data_batch_1..5.bin (3 records each) and test_batch.bin (4 records) under `dir`.
void write_cifar10_dir(const std::string& dir) {
  for (int b = 0; b < 5; ++b) {
    std::vector<std::vector<uint8_t>> labels;
    for (int r = 0; r < 3; ++r) labels.push_back({label10(b * 3 + r)});
    write_bytes(dir + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_records(labels, b * 3));
  }
  write_bytes(dir + "/test_batch.bin", cifar_records({{1}, {2}, {3}, {4}}, 100));
}

void expect_cifar_pixels(const Dataset& ds, int64_t first_index) {
  ASSERT_EQ(ds.channels(), 3);
  ASSERT_EQ(ds.height(), 32);
  ASSERT_EQ(ds.width(), 32);
  const auto acc = ds.images.accessor<uint8_t, 4>();
  for (int64_t i = 0; i < ds.size(); ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) ASSERT_EQ(acc[i][c][y][x], test_pixel(first_index + i, c, y, x));
}

}  // namespace

TEST(Cifar, ReadCifar10) {
  TempDir dir("cifar10_read");
  write_cifar10_dir(dir.path().string());
  std::vector<std::string> files;
  for (int b = 1; b <= 5; ++b) files.push_back(dir.file("data_batch_" + std::to_string(b) + ".bin"));
  const Dataset ds = kdaug::data::read_cifar(files, 10);
  ASSERT_EQ(ds.size(), 15);
  EXPECT_EQ(ds.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
  expect_cifar_pixels(ds, 0);
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(ds.labels[i].item<int64_t>(), label10(i));
  ASSERT_EQ(ds.mean.size(), 3u);
  EXPECT_NEAR(ds.mean[1], ds.images.select(1, 1).to(at::kDouble).mean().item<double>() / 255.0, 1e-9);
}

TEST(Cifar, ReadCifar100UsesFineLabels) {
  TempDir dir("cifar100_read");
  write_bytes(dir.file("train.bin"), cifar_records({{3, 77}, {19, 0}, {0, 99}}, 0));
  const Dataset ds = kdaug::data::read_cifar({dir.file("train.bin")}, 100);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_TRUE(at::equal(ds.labels, at::tensor({77, 0, 99}, at::kLong)));
  expect_cifar_pixels(ds, 0);
  EXPECT_EQ(ds.num_classes, 100);
}

TEST(Cifar, NamedDatasets) {
  TempDir flat("cifar10_flat"), nested("cifar10_nested"), c100("cifar100_named");
  write_cifar10_dir(flat.path().string());
  write_cifar10_dir(nested.file("cifar-10-batches-bin"));
  for (const TempDir* d : {&flat, &nested}) {
    DataOptions o;
    o.dataset = "cifar10";
    o.data_dir = d->path().string();
    o.val_size = 5;
    o.seed = 11;
    const auto s = kdaug::data::load_splits(o);
    EXPECT_EQ(s.train.size(), 10);
    EXPECT_EQ(s.val.size(), 5);
    EXPECT_EQ(s.test.size(), 4);
    expect_cifar_pixels(s.test, 100);
    EXPECT_EQ(s.train.name, "cifar10");
    ASSERT_EQ(s.train.class_names.size(), 10u);
    EXPECT_EQ(s.train.class_names[0], "airplane");
    EXPECT_EQ(s.train.class_names[9], "truck");
    EXPECT_EQ(s.train.mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
    EXPECT_EQ(s.train.std, (std::vector<double>{0.2470, 0.2435, 0.2616}));
  }
  write_bytes(c100.file("cifar-100-binary/train.bin"), cifar_records({{1, 5}, {2, 6}, {3, 7}}, 0));
  write_bytes(c100.file("cifar-100-binary/test.bin"), cifar_records({{4, 8}}, 50));
  DataOptions o;
  o.dataset = "cifar100";
  o.data_dir = c100.path().string();
  o.val_size = 1;
  const auto s = kdaug::data::load_splits(o);
  EXPECT_EQ(s.train.size(), 2);
  EXPECT_EQ(s.test.labels[0].item<int64_t>(), 8);
  ASSERT_EQ(s.train.class_names.size(), 100u);
  EXPECT_EQ(s.train.class_names[0], "apple");
  EXPECT_EQ(s.train.class_names[99], "worm");
  EXPECT_EQ(s.train.mean, (std::vector<double>{0.5071, 0.4865, 0.4409}));
  EXPECT_EQ(s.train.std, (std::vector<double>{0.2673, 0.2564, 0.2762}));
}

TEST(Cifar, BadFiles) {
  TempDir dir("cifar_bad");
  const std::string good = dir.file("good.bin");
  write_bytes(good, cifar_records({{1}, {2}}, 0));
  EXPECT_NO_THROW(kdaug::data::read_cifar({good}, 10));
  // Missing file (named, also when it is the second of several).
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({good, dir.file("nope.bin")}, 10), dir.file("nope.bin"));
  // Truncated: size not a multiple of the 3073-byte record.
  {
    Bytes b = cifar_records({{1}, {2}}, 0);
    b.resize(b.size() - 10);
    write_bytes(dir.file("trunc.bin"), b);
    EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({dir.file("trunc.bin")}, 10), dir.file("trunc.bin"), "truncated",
                       "6146", "got 6136");
  }
  // The same file read as CIFAR-100 (3074-byte records) is also inconsistent.
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({good}, 100), good, "truncated");
  // Empty file.
  write_bytes(dir.file("empty.bin"), {});
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({dir.file("empty.bin")}, 10), dir.file("empty.bin"), "0 images");
  // Labels out of range: record index and value.
  write_bytes(dir.file("big.bin"), cifar_records({{1}, {2}, {10}}, 0));
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({dir.file("big.bin")}, 10), dir.file("big.bin"), "record 2", "is 10");
  write_bytes(dir.file("fine.bin"), cifar_records({{1, 100}}, 0));
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({dir.file("fine.bin")}, 100), "record 0", "is 100");
  write_bytes(dir.file("coarse.bin"), cifar_records({{1, 1}, {20, 1}}, 0));
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({dir.file("coarse.bin")}, 100), "coarse", "record 1", "is 20");
  // Bad arguments.
  EXPECT_KDAUG_ERROR(kdaug::data::read_cifar({good}, 7), "num_classes", "7");
  EXPECT_THROW(kdaug::data::read_cifar({}, 10), kdaug::Error);
  // A directory without the batches.
  DataOptions o;
  o.dataset = "cifar10";
  o.data_dir = dir.path().string();
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "data_batch_1.bin", dir.path().string());
  o.dataset = "cifar100";
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "train.bin");
  o.data_dir.clear();
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "cifar100", "data_dir");
}
