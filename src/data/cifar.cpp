// CIFAR-10/100 binary reader: fixed-size records, pixels stored as R, G, B planes of 32x32
// (already CHW, so a record's pixels copy straight into the [N,3,32,32] tensor).
#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "byte_source.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"

namespace kdaug::data {
namespace {
constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;  // 3072 bytes per image
constexpr int64_t kCifar100Coarse = 20;                        // superclasses in CIFAR-100
}  // namespace

Dataset read_cifar(const std::vector<std::string>& files, int64_t num_classes) {
  KDAUG_CHECK(num_classes == 10 || num_classes == 100, "CIFAR num_classes must be 10 or 100, got ", num_classes);
  KDAUG_CHECK(!files.empty(), "read_cifar: no files given");
  const int64_t label_bytes = num_classes == 100 ? 2 : 1;  // CIFAR-100: <coarse><fine>
  const int64_t record = label_bytes + kCifarPixels;

  std::vector<std::vector<uint8_t>> contents;
  int64_t total = 0;
  for (const auto& path : files) {
    detail::ByteSource src(path, "CIFAR batch file");
    contents.push_back(src.read_all());
    const auto size = static_cast<int64_t>(contents.back().size());
    KDAUG_CHECK(size > 0, "CIFAR batch file ", path, " contains 0 images");
    KDAUG_CHECK(size % record == 0, "CIFAR batch file ", path, " is truncated (expected ", (size / record + 1) * record, " bytes for whole ",
                record, "-byte records, got ", size, ")");
    total += size / record;
  }

  at::Tensor images = at::empty({total, 3, kCifarSide, kCifarSide}, at::kByte);
  at::Tensor labels = at::empty({total}, at::kLong);
  uint8_t* ip = images.data_ptr<uint8_t>();
  int64_t* lp = labels.data_ptr<int64_t>();
  int64_t at_sample = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& bytes = contents[f];
    const auto n = static_cast<int64_t>(bytes.size()) / record;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* rec = bytes.data() + i * record;
      if (label_bytes == 2) {
        KDAUG_CHECK(rec[0] < kCifar100Coarse, "CIFAR batch file ", files[f], ": coarse label of record ", i, " is ",
                    int{rec[0]}, ", not in [0, ", kCifar100Coarse, ")");
      }
      const int64_t label = rec[label_bytes - 1];
      KDAUG_CHECK(label < num_classes, "CIFAR batch file ", files[f], ": label of record ", i, " is ", label,
                  ", not in [0, ", num_classes, ")");
      lp[at_sample] = label;
      std::memcpy(ip + at_sample * kCifarPixels, rec + label_bytes, kCifarPixels);
      ++at_sample;
    }
    contents[f] = {};  // release each file's bytes once copied (CIFAR train is 150 MB)
  }

  Dataset ds;
  ds.images = images;
  ds.labels = labels;
  ds.num_classes = num_classes;
  ds.name = num_classes == 100 ? "cifar100" : "cifar10";
  for (int64_t c = 0; c < num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  detail::channel_stats(images, ds.mean, ds.std);
  return ds;
}

}  // namespace kdaug::data
