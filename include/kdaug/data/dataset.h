// Datasets: uint8 images and int64 labels in memory, readers for IDX and CIFAR binary files,
// named datasets and a seeded validation split.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kdaug::data {

// WHAT THIS REPRESENTS: a labelled image set held in memory.
//   images: uint8 [N, C, H, W], CPU, contiguous, values 0..255
//   labels: int64 [N], CPU, each in [0, num_classes)
//   mean/std: per-channel normalisation of images scaled to [0,1] (C entries each)
struct Dataset {
  at::Tensor images;
  at::Tensor labels;
  int64_t num_classes = 0;
  std::string name;
  std::vector<std::string> class_names;
  std::vector<double> mean, std;
  // int64 [N] (CPU): each sample's position in the file it was read from, kept through
  // subset() and head() (undefined = the identity). The soft-label cache keys on it, so runs
  // whose validation splits differ (other seeds) share one cache of the whole training file.
  at::Tensor origin;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  // The samples at `indices` (int64 [K], CPU), in that order.
  Dataset subset(const at::Tensor& indices) const;
  // The first n samples (all when n <= 0 or n >= size()).
  Dataset head(int64_t n) const;
};

// Reads an IDX image file (magic 0x00000803, uint8 [N,H,W]) and an IDX label file
// (0x00000801, uint8 [N]); either may be gzip-compressed (.gz). Throws kdaug::Error naming the
// file for: missing/unreadable file, wrong magic, truncated data, count mismatch, label >= num_classes.
Dataset read_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes = 10);

// Reads CIFAR binary batches: CIFAR-10 records are <1 label byte><3072 pixel bytes>, CIFAR-100
// records <coarse><fine><3072>; num_classes selects the format (10 or 100; 100 uses fine labels).
Dataset read_cifar(const std::vector<std::string>& files, int64_t num_classes);

// Train/validation/test for one named dataset.
struct Splits {
  Dataset train, val, test;
  Dataset source;  // the training file before the validation split (train and val are subsets of it)
};

struct DataOptions {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100
  std::string data_dir;                   // empty: the dataset's default directory
  int64_t val_size = 5000;                // held out from train (seeded); 0 = no validation split
  uint64_t seed = 0;                      // seeds the validation split
  int64_t train_limit = 0;                // keep only the first N training samples (0 = all)
  int64_t test_limit = 0;                 // keep only the first N test samples (0 = all)
};

// Loads a named dataset and splits off the validation set. Throws kdaug::Error for an unknown
// name (listing the known ones), a missing directory/file, or val_size outside [0, N).
Splits load_splits(const DataOptions& opts);

// Known dataset names, and the directory used when data_dir is empty ("" when none).
std::vector<std::string> dataset_names();
std::string default_data_dir(const std::string& name);

// Seeded split: `val_size` samples chosen at random go to the second set, the rest (order
// kept) to the first. Same seed => same split.
std::pair<Dataset, Dataset> split_validation(const Dataset& full, int64_t val_size, uint64_t seed);

}  // namespace kdaug::data
