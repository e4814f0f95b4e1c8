// Dataset helpers, the named datasets (where their files live, class names, normalisation)
// and the seeded validation split.
#include "kdaug/data/dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace fs = std::filesystem;

namespace kdaug::data {
namespace {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";  // Debian's fashion-mnist package

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::ostringstream ss;
  for (size_t i = 0; i < v.size(); ++i) ss << (i ? sep : "") << v[i];
  return ss.str();
}

std::vector<std::string> fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

std::vector<std::string> cifar10_classes() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

// CIFAR-100 fine labels in label order (alphabetical, as in the dataset's fine_label_names.txt).
std::vector<std::string> cifar100_classes() {
  return {"apple",      "aquarium_fish", "baby",         "bear",       "beaver",      "bed",        "bee",
          "beetle",     "bicycle",       "bottle",       "bowl",       "boy",         "bridge",     "bus",
          "butterfly",  "camel",         "can",          "castle",     "caterpillar", "cattle",     "chair",
          "chimpanzee", "clock",         "cloud",        "cockroach",  "couch",       "crab",       "crocodile",
          "cup",        "dinosaur",      "dolphin",      "elephant",   "flatfish",    "forest",     "fox",
          "girl",       "hamster",       "house",        "kangaroo",   "keyboard",    "lamp",       "lawn_mower",
          "leopard",    "lion",          "lizard",       "lobster",    "man",         "maple_tree", "motorcycle",
          "mountain",   "mouse",         "mushroom",     "oak_tree",   "orange",      "orchid",     "otter",
          "palm_tree",  "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",      "poppy",
          "porcupine",  "possum",        "rabbit",       "raccoon",    "ray",         "road",       "rocket",
          "rose",       "sea",           "seal",         "shark",      "shrew",       "skunk",      "skyscraper",
          "snail",      "snake",         "spider",       "squirrel",   "streetcar",   "sunflower",  "sweet_pepper",
          "table",      "tank",          "telephone",    "television", "tiger",       "tractor",    "train",
          "trout",      "tulip",         "turtle",       "wardrobe",   "whale",       "willow_tree", "wolf",
          "woman",      "worm"};
}

void check_known(const std::string& name) {
  const auto names = dataset_names();
  KDAUG_CHECK(std::find(names.begin(), names.end(), name) != names.end(), "unknown dataset '", name,
              "' (known: ", join(names, ", "), ")");
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The first of `candidates` present in `dir`; an error listing them all when none is.
std::string find_file(const std::string& dataset, const std::string& dir, const std::vector<std::string>& candidates,
                      const char* what) {
  for (const auto& c : candidates) {
    const fs::path p = fs::path(dir) / c;
    if (is_file(p)) return p.string();
  }
  KDAUG_FAIL(dataset, ": ", what, " not found in ", dir, " (looked for ", join(candidates, ", "), ")");
}

// MNIST-style file names: Debian's and the original site's are `train-images-idx3-ubyte[.gz]`;
// some mirrors write `train-images.idx3-ubyte`.
std::vector<std::string> idx_names(const std::string& prefix, const std::string& kind) {
  const std::string a = prefix + "-" + kind;
  std::string dotted = a;
  dotted[dotted.find("-idx")] = '.';
  return {a + ".gz", a, dotted + ".gz", dotted};
}

struct TrainTest {
  Dataset train, test;
};

TrainTest load_idx_dir(const std::string& name, const std::string& dir) {
  // Looked up one by one so that a missing file is reported in a predictable order.
  const std::string train_images = find_file(name, dir, idx_names("train", "images-idx3-ubyte"), "training images");
  const std::string train_labels = find_file(name, dir, idx_names("train", "labels-idx1-ubyte"), "training labels");
  const std::string test_images = find_file(name, dir, idx_names("t10k", "images-idx3-ubyte"), "test images");
  const std::string test_labels = find_file(name, dir, idx_names("t10k", "labels-idx1-ubyte"), "test labels");
  TrainTest tt;
  tt.train = read_idx(train_images, train_labels, 10);
  tt.test = read_idx(test_images, test_labels, 10);
  return tt;
}

// The directory that holds the CIFAR batches: `dir` itself or its standard archive subfolder.
std::string cifar_dir(const std::string& name, const std::string& dir, const std::string& probe,
                      const std::string& subfolder) {
  if (is_file(fs::path(dir) / probe)) return dir;
  if (is_file(fs::path(dir) / subfolder / probe)) return (fs::path(dir) / subfolder).string();
  KDAUG_FAIL(name, ": ", probe, " not found in ", dir, " or ", (fs::path(dir) / subfolder).string());
}

TrainTest load_cifar_dir(const std::string& name, const std::string& dir) {
  TrainTest tt;
  if (name == "cifar10") {
    const std::string d = cifar_dir(name, dir, "data_batch_1.bin", "cifar-10-batches-bin");
    std::vector<std::string> train;
    for (int i = 1; i <= 5; ++i) {
      train.push_back(find_file(name, d, {"data_batch_" + std::to_string(i) + ".bin"}, "training batch"));
    }
    tt.train = read_cifar(train, 10);
    tt.test = read_cifar({find_file(name, d, {"test_batch.bin"}, "test batch")}, 10);
  } else {
    const std::string d = cifar_dir(name, dir, "train.bin", "cifar-100-binary");
    tt.train = read_cifar({find_file(name, d, {"train.bin"}, "training file")}, 100);
    tt.test = read_cifar({find_file(name, d, {"test.bin"}, "test file")}, 100);
  }
  return tt;
}

// Names, class names and the published normalisation constants of a named dataset.
void describe(Dataset& ds, const std::string& name) {
  ds.name = name;
  if (name == "fashion-mnist") {
    ds.class_names = fashion_mnist_classes();
    ds.mean = {0.2860};
    ds.std = {0.3530};
  } else if (name == "mnist") {
    ds.class_names.clear();
    for (int d = 0; d < 10; ++d) ds.class_names.push_back(std::to_string(d));
    ds.mean = {0.1307};
    ds.std = {0.3081};
  } else if (name == "cifar10") {
    ds.class_names = cifar10_classes();
    ds.mean = {0.4914, 0.4822, 0.4465};
    ds.std = {0.2470, 0.2435, 0.2616};
  } else if (name == "cifar100") {
    ds.class_names = cifar100_classes();
    ds.mean = {0.5071, 0.4865, 0.4409};
    ds.std = {0.2673, 0.2564, 0.2762};
  }
}

}  // namespace

Dataset Dataset::subset(const at::Tensor& indices) const {
  KDAUG_CHECK(indices.defined() && indices.dim() == 1 && indices.scalar_type() == at::kLong,
              "Dataset::subset: indices must be int64 [K], got ",
              indices.defined() ? indices.toString() + " " + c10::str(indices.sizes()) : std::string("undefined"));
  const at::Tensor idx = indices.to(labels.device()).contiguous();
  if (idx.numel() > 0) {
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    KDAUG_CHECK(lo >= 0 && hi < size(), "Dataset::subset: index out of range [0, ", size(), "): ",
                (lo < 0 ? lo : hi));
  }
  Dataset out = *this;
  out.images = images.index_select(0, idx).contiguous();
  out.labels = labels.index_select(0, idx).contiguous();
  const at::Tensor cpu_idx = idx.to(at::kCPU);
  out.origin = origin.defined() ? origin.index_select(0, cpu_idx) : cpu_idx.clone();
  return out;
}

Dataset Dataset::head(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  Dataset out = *this;
  out.images = images.slice(0, 0, n).contiguous();
  out.labels = labels.slice(0, 0, n).contiguous();
  if (origin.defined()) out.origin = origin.slice(0, 0, n).contiguous();
  return out;
}

std::vector<std::string> dataset_names() { return {"fashion-mnist", "mnist", "cifar10", "cifar100"}; }

std::string default_data_dir(const std::string& name) {
  check_known(name);
  return name == "fashion-mnist" ? kFashionMnistDir : "";
}

std::pair<Dataset, Dataset> split_validation(const Dataset& full, int64_t val_size, uint64_t seed) {
  const int64_t n = full.size();
  KDAUG_CHECK(val_size >= 0 && val_size < n, "val_size must be in [0, ", n, ") for dataset ", full.name,
              " with ", n, " samples, got ", val_size);
  at::Generator gen = make_generator(seed);
  const at::Tensor perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  at::Tensor is_val = at::zeros({n}, at::kBool);
  is_val.index_fill_(0, perm.slice(0, 0, val_size), true);
  // nonzero returns ascending positions: both sets keep the dataset's order.
  const at::Tensor val_idx = at::nonzero(is_val).view({-1});
  const at::Tensor train_idx = at::nonzero(at::logical_not(is_val)).view({-1});
  return {full.subset(train_idx), full.subset(val_idx)};
}

Splits load_splits(const DataOptions& opts) {
  check_known(opts.dataset);
  KDAUG_CHECK(opts.train_limit >= 0, "train_limit must be >= 0, got ", opts.train_limit);
  KDAUG_CHECK(opts.test_limit >= 0, "test_limit must be >= 0, got ", opts.test_limit);
  std::string dir = opts.data_dir.empty() ? default_data_dir(opts.dataset) : opts.data_dir;
  KDAUG_CHECK(!dir.empty(), "dataset ", opts.dataset, " has no default directory: set data_dir");
  std::error_code ec;
  KDAUG_CHECK(fs::is_directory(dir, ec), "data directory for ", opts.dataset, " not found: ", dir);

  TrainTest tt = (opts.dataset == "fashion-mnist" || opts.dataset == "mnist") ? load_idx_dir(opts.dataset, dir)
                                                                             : load_cifar_dir(opts.dataset, dir);
  describe(tt.train, opts.dataset);
  describe(tt.test, opts.dataset);

  Splits s;
  const int64_t n = tt.train.size();
  KDAUG_CHECK(opts.val_size >= 0 && opts.val_size < n, "val_size must be in [0, ", n, ") for ", opts.dataset,
              " (", n, " training samples), got ", opts.val_size);
  s.source = tt.train;
  auto [train, val] = split_validation(tt.train, opts.val_size, opts.seed);
  s.train = train.head(opts.train_limit);
  s.val = val;
  s.test = tt.test.head(opts.test_limit);
  return s;
}

}  // namespace kdaug::data
