// Tests for the IDX reader, the named IDX datasets (Fashion-MNIST, MNIST), load_splits and
// split_validation.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <zlib.h>

#include <filesystem>
#include <set>

#include "data_test_util.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"

using kdaug::data::DataOptions;
using kdaug::data::Dataset;
using namespace kdaug_test;

namespace {

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

// Reads a .gz file with zlib, independently of the library's reader.
Bytes gunzip(const std::string& path) {
  Bytes out;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  unsigned char buf[65536];
  int got;
  while ((got = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + got);
  gzclose(f);
  return out;
}

bool have_fashion_mnist() {
  return std::filesystem::exists(std::string(kFashionDir) + "/train-labels-idx1-ubyte.gz");
}

// A directory with a complete tiny MNIST-style dataset: 12 train and 5 test 4x3 images.
void write_mnist_dir(const TempDir& dir, bool gz, bool dotted = false) {
  const std::string ext = gz ? ".gz" : "";
  const std::string sep = dotted ? "." : "-";
  std::vector<uint8_t> train_labels, test_labels;
  for (int i = 0; i < 12; ++i) train_labels.push_back(static_cast<uint8_t>(i % 10));
  for (int i = 0; i < 5; ++i) test_labels.push_back(static_cast<uint8_t>((i * 3) % 10));
  write_bytes(dir.file("train-images" + sep + "idx3-ubyte" + ext), idx_images(12, 4, 3));
  write_bytes(dir.file("train-labels" + sep + "idx1-ubyte" + ext), idx_labels(train_labels));
  write_bytes(dir.file("t10k-images" + sep + "idx3-ubyte" + ext), idx_images(5, 4, 3));
  write_bytes(dir.file("t10k-labels" + sep + "idx1-ubyte" + ext), idx_labels(test_labels));
}

void expect_generated_pixels(const Dataset& ds) {
  const auto acc = ds.images.accessor<uint8_t, 4>();
  for (int64_t i = 0; i < ds.size(); ++i)
    for (int64_t y = 0; y < ds.height(); ++y)
      for (int64_t x = 0; x < ds.width(); ++x) ASSERT_EQ(acc[i][0][y][x], test_pixel(i, 0, y, x)) << i;
}

}  // namespace

TEST(Idx, RealFashionMnist) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionDir;
  const std::string d = kFashionDir;
  const Dataset test = kdaug::data::read_idx(d + "/t10k-images-idx3-ubyte.gz", d + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(test.size(), 10000);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.images.scalar_type(), at::kByte);
  EXPECT_EQ(test.labels.scalar_type(), at::kLong);
  // Sum of all test-set pixels, measured with python3's gzip module (the data are fixed).
  EXPECT_EQ(test.images.sum(at::kLong).item<int64_t>(), 573469082);
  // Fashion-MNIST is balanced: 1000 test images per class.
  EXPECT_TRUE(at::equal(at::bincount(test.labels), at::full({10}, 1000, at::kLong)));

  const Dataset train = kdaug::data::read_idx(d + "/train-images-idx3-ubyte.gz", d + "/train-labels-idx1-ubyte.gz");
  ASSERT_EQ(train.size(), 60000);
  EXPECT_EQ(train.height(), 28);
  EXPECT_EQ(train.width(), 28);
  EXPECT_TRUE(at::equal(at::bincount(train.labels), at::full({10}, 6000, at::kLong)));
  // The first labels, checked against an independent read of the file.
  const Bytes raw = gunzip(d + "/train-labels-idx1-ubyte.gz");
  ASSERT_EQ(raw.size(), 60008u);
  const std::vector<int64_t> first = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(raw[8 + i], first[i]);
    EXPECT_EQ(train.labels[static_cast<int64_t>(i)].item<int64_t>(), first[i]) << i;
  }
  // Pixels of the first image, against the independent read.
  const Bytes img = gunzip(d + "/train-images-idx3-ubyte.gz");
  ASSERT_EQ(img.size(), 16u + 60000u * 784u);
  const at::Tensor first_img = train.images[0].reshape({-1});
  for (int64_t k = 0; k < 784; ++k) ASSERT_EQ(first_img[k].item<int64_t>(), img[16 + k]) << k;
}

TEST(Idx, LoadSplitsFashionMnist) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionDir;
  DataOptions o;  // defaults: fashion-mnist from its default directory, val 5000
  o.seed = 3;
  o.test_limit = 200;
  const auto s = kdaug::data::load_splits(o);
  EXPECT_EQ(s.train.size(), 55000);
  EXPECT_EQ(s.val.size(), 5000);
  EXPECT_EQ(s.test.size(), 200);
  EXPECT_EQ(s.train.name, "fashion-mnist");
  ASSERT_EQ(s.train.class_names.size(), 10u);
  EXPECT_EQ(s.train.class_names[0], "T-shirt/top");
  EXPECT_EQ(s.test.class_names[9], "Ankle boot");
  EXPECT_EQ(s.train.mean, std::vector<double>{0.2860});
  EXPECT_EQ(s.val.std, std::vector<double>{0.3530});
  // The published constants agree with the data.
  EXPECT_NEAR(s.train.images.to(at::kFloat).mean().item<double>() / 255.0, 0.2860, 0.002);
  EXPECT_EQ(kdaug::data::default_data_dir("fashion-mnist"), kFashionDir);
}

TEST(Idx, GeneratedRawAndGzip) {
  TempDir dir("idx_gen");
  for (bool gz : {false, true}) {
    const std::string ext = gz ? ".gz" : "";
    std::vector<uint8_t> labels = {3, 1, 4, 1, 5, 9, 2};
    write_bytes(dir.file("img" + ext), idx_images(7, 5, 6));
    write_bytes(dir.file("lbl" + ext), idx_labels(labels));
    const Dataset ds = kdaug::data::read_idx(dir.file("img" + ext), dir.file("lbl" + ext), 10);
    ASSERT_EQ(ds.images.sizes(), (std::vector<int64_t>{7, 1, 5, 6}));
    EXPECT_TRUE(ds.images.is_contiguous());
    expect_generated_pixels(ds);
    for (size_t i = 0; i < labels.size(); ++i) EXPECT_EQ(ds.labels[int64_t(i)].item<int64_t>(), labels[i]);
    EXPECT_EQ(ds.num_classes, 10);
    EXPECT_EQ(ds.class_names.size(), 10u);
    // Generic IDX files get their own statistics.
    ASSERT_EQ(ds.mean.size(), 1u);
    EXPECT_NEAR(ds.mean[0], ds.images.to(at::kDouble).mean().item<double>() / 255.0, 1e-9);
    EXPECT_NEAR(ds.std[0], ds.images.to(at::kDouble).std(/*unbiased=*/false).item<double>() / 255.0, 1e-9);
  }
}

TEST(Idx, BadFiles) {
  TempDir dir("idx_bad");
  const std::vector<uint8_t> lab4 = {0, 1, 2, 3};
  write_bytes(dir.file("img"), idx_images(4, 3, 3));
  write_bytes(dir.file("lbl"), idx_labels(lab4));
  EXPECT_NO_THROW(kdaug::data::read_idx(dir.file("img"), dir.file("lbl")));

  // Missing files.
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("nope"), dir.file("lbl")), dir.file("nope"), "not found");
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("nope.gz")), dir.file("nope.gz"));
  // A directory instead of a file.
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.path().string(), dir.file("lbl")), dir.path().string());

  // Truncated pixels, raw and gzip (4*3*3 = 36 pixel bytes, 16 header bytes).
  for (const std::string name : {"trunc", "trunc.gz"}) {
    Bytes b = idx_images(4, 3, 3);
    b.resize(b.size() - 5);
    write_bytes(dir.file(name), b);
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file(name), dir.file("lbl")), dir.file(name), "truncated",
                       "expected 52 bytes, got 47");
  }
  // A gzip stream cut short (not just short data inside a complete stream).
  {
    write_bytes(dir.file("cut.gz"), idx_images(4, 3, 3));
    Bytes gz;
    {
      std::ifstream in(dir.file("cut.gz"), std::ios::binary);
      gz.assign(std::istreambuf_iterator<char>(in), {});
    }
    gz.resize(gz.size() / 2);
    write_bytes(dir.file("cut2"), gz);  // raw write of the truncated compressed bytes
    std::filesystem::rename(dir.file("cut2"), dir.file("cut3.gz"));
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("cut3.gz"), dir.file("lbl")), dir.file("cut3.gz"));
  }
  // Corrupt compressed data (complete stream, garbled bytes).
  {
    write_bytes(dir.file("big.gz"), idx_images(2000, 20, 20));
    Bytes gz;
    {
      std::ifstream in(dir.file("big.gz"), std::ios::binary);
      gz.assign(std::istreambuf_iterator<char>(in), {});
    }
    for (size_t k = 100; k < 200; ++k) gz[k] ^= 0x5a;
    write_bytes(dir.file("garbled"), gz);
    std::filesystem::rename(dir.file("garbled"), dir.file("garbled.gz"));
    write_bytes(dir.file("lbl2000"), idx_labels(std::vector<uint8_t>(2000, 1)));
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("garbled.gz"), dir.file("lbl2000")), dir.file("garbled.gz"),
                       "corrupt gzip");
  }
  // Truncated header.
  write_bytes(dir.file("short"), Bytes{0, 0, 8, 3, 0});
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("short"), dir.file("lbl")), dir.file("short"), "truncated");
  // Truncated labels.
  {
    Bytes b = idx_labels(lab4);
    b.pop_back();
    write_bytes(dir.file("lbl_trunc"), b);
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("lbl_trunc")), dir.file("lbl_trunc"),
                       "expected 12 bytes, got 11");
  }
  // Longer than the header says.
  {
    Bytes b = idx_images(4, 3, 3);
    b.push_back(7);
    write_bytes(dir.file("long"), b);
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("long"), dir.file("lbl")), dir.file("long"), "longer");
  }
  // Wrong magic, shown in hex: labels given as images and a made-up magic.
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("lbl"), dir.file("lbl")), dir.file("lbl"), "magic",
                     "0x00000801", "0x00000803");
  write_bytes(dir.file("magic"), idx_images(4, 3, 3, 0xdeadbeef));
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("magic"), dir.file("lbl")), "0xdeadbeef");
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("img")), dir.file("img"), "0x00000803",
                     "0x00000801");
  // Count mismatch names both counts.
  write_bytes(dir.file("lbl5"), idx_labels({0, 1, 2, 3, 4}));
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("lbl5")), "4 images", "5 labels",
                     dir.file("lbl5"));
  // Label out of range: index and value.
  write_bytes(dir.file("lbl_big"), idx_labels({0, 1, 12, 3}));
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("lbl_big")), dir.file("lbl_big"), "index 2",
                     "is 12");
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("lbl"), 3), "index 3", "is 3");
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("img"), dir.file("lbl"), 0), "num_classes", "0");
  // Zero images and absurd dimensions.
  write_bytes(dir.file("empty"), idx_images(0, 3, 3));
  write_bytes(dir.file("lbl0"), idx_labels({}));
  EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("empty"), dir.file("lbl0")), dir.file("empty"), "0 images");
  {
    Bytes b;
    put_be32(b, 0x803);
    put_be32(b, 4);
    put_be32(b, 100000);
    put_be32(b, 3);
    write_bytes(dir.file("huge"), b);
    EXPECT_KDAUG_ERROR(kdaug::data::read_idx(dir.file("huge"), dir.file("lbl")), dir.file("huge"), "100000x3");
  }
}

TEST(Idx, NamedMnistDirectory) {
  for (bool gz : {false, true}) {
    TempDir dir(gz ? "mnist_gz" : "mnist_raw");
    write_mnist_dir(dir, gz);
    DataOptions o;
    o.dataset = "mnist";
    o.data_dir = dir.path().string();
    o.val_size = 2;
    const auto s = kdaug::data::load_splits(o);
    EXPECT_EQ(s.train.size(), 10);
    EXPECT_EQ(s.val.size(), 2);
    EXPECT_EQ(s.test.size(), 5);
    EXPECT_EQ(s.train.name, "mnist");
    EXPECT_EQ(s.train.class_names[7], "7");
    EXPECT_EQ(s.train.mean, std::vector<double>{0.1307});
    EXPECT_EQ(s.train.std, std::vector<double>{0.3081});
    expect_generated_pixels(s.test);
  }
  // The dotted file names some mirrors use.
  TempDir dotted("mnist_dotted");
  write_mnist_dir(dotted, false, true);
  DataOptions o;
  o.dataset = "mnist";
  o.data_dir = dotted.path().string();
  o.val_size = 0;
  o.train_limit = 3;
  const auto s = kdaug::data::load_splits(o);
  EXPECT_EQ(s.train.size(), 3);
  EXPECT_EQ(s.val.size(), 0);
  EXPECT_EQ(s.val.images.dim(), 4);
  EXPECT_EQ(s.test.size(), 5);
}

TEST(Idx, LoadSplitsErrors) {
  TempDir dir("splits_err");
  write_mnist_dir(dir, true);
  DataOptions o;
  o.dataset = "imagenet";
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "imagenet", "fashion-mnist", "cifar10");
  EXPECT_KDAUG_ERROR(kdaug::data::default_data_dir("svhn"), "svhn");
  o.dataset = "mnist";
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "mnist", "data_dir");
  o.data_dir = dir.file("missing");
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), dir.file("missing"));
  o.data_dir = dir.path().string();
  o.val_size = 12;
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "val_size", "12", "[0, 12)");
  o.val_size = -1;
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "val_size", "-1");
  o.val_size = 2;
  o.train_limit = -5;
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "train_limit", "-5");
  o.train_limit = 0;
  o.test_limit = -2;
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "test_limit", "-2");
  // A directory missing one of the files names what it looked for.
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  o.test_limit = 0;
  EXPECT_KDAUG_ERROR(kdaug::data::load_splits(o), "test labels", "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(kdaug::data::default_data_dir("mnist"), "");
  EXPECT_EQ(kdaug::data::dataset_names().size(), 4u);
}

TEST(Idx, SplitValidation) {
  Dataset full;
  const int64_t n = 50;
  full.images = at::arange(n, at::kLong).to(at::kByte).view({n, 1, 1, 1});
  full.labels = at::arange(n, at::kLong);
  full.num_classes = n;
  full.name = "toy";
  auto [train, val] = kdaug::data::split_validation(full, 12, 7);
  ASSERT_EQ(train.size(), 38);
  ASSERT_EQ(val.size(), 12);
  // Disjoint, covering, each in the dataset's order, images still matching labels.
  const at::Tensor all = std::get<0>(at::sort(at::cat({train.labels, val.labels})));
  EXPECT_TRUE(at::equal(all, at::arange(n, at::kLong)));
  EXPECT_TRUE(at::equal(train.labels, std::get<0>(at::sort(train.labels))));
  EXPECT_TRUE(at::equal(val.labels, std::get<0>(at::sort(val.labels))));
  EXPECT_TRUE(at::equal(train.images.view({-1}).to(at::kLong), train.labels));
  EXPECT_EQ(train.name, "toy");
  // Same seed, same split; another seed, another split.
  auto again = kdaug::data::split_validation(full, 12, 7);
  EXPECT_TRUE(at::equal(again.second.labels, val.labels));
  auto other = kdaug::data::split_validation(full, 12, 8);
  EXPECT_FALSE(at::equal(other.second.labels, val.labels));
  // Edge sizes and errors.
  EXPECT_EQ(kdaug::data::split_validation(full, 0, 1).first.size(), n);
  EXPECT_EQ(kdaug::data::split_validation(full, n - 1, 1).first.size(), 1);
  EXPECT_KDAUG_ERROR(kdaug::data::split_validation(full, n, 1), "val_size", "50");
  EXPECT_KDAUG_ERROR(kdaug::data::split_validation(full, -3, 1), "val_size", "-3");
}

TEST(Idx, SubsetAndHead) {
  Dataset full;
  full.images = at::arange(10, at::kLong).to(at::kByte).view({10, 1, 1, 1});
  full.labels = at::arange(10, at::kLong);
  const Dataset s = full.subset(at::tensor({7, 2, 2}, at::kLong));
  EXPECT_TRUE(at::equal(s.labels, at::tensor({7, 2, 2}, at::kLong)));
  EXPECT_TRUE(at::equal(s.images.view({-1}).to(at::kLong), s.labels));
  EXPECT_EQ(full.head(3).size(), 3);
  EXPECT_EQ(full.head(0).size(), 10);
  EXPECT_EQ(full.head(99).size(), 10);
  EXPECT_KDAUG_ERROR(full.subset(at::tensor({1, 10}, at::kLong)), "out of range", "10");
  EXPECT_KDAUG_ERROR(full.subset(at::tensor({-1}, at::kLong)), "-1");
  EXPECT_THROW(full.subset(at::tensor({1.0f})), kdaug::Error);
}
