// IDX reader (MNIST, Fashion-MNIST): big-endian header, then raw uint8 data.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "byte_source.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"

namespace kdaug::data {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
constexpr uint32_t kMaxSide = 4096;               // larger images are not an IDX classification set
constexpr uint64_t kMaxCount = uint64_t{1} << 31;  // samples; beyond this the header is garbage

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads `words` 32-bit big-endian header words; the magic is the first and is checked before
// the rest is read, so a file of the wrong kind reports its magic rather than a short header.
std::vector<uint32_t> read_header(detail::ByteSource& src, size_t words, uint32_t magic, const char* kind) {
  std::vector<unsigned char> raw(words * 4);
  size_t got = src.read(raw.data(), 4);
  if (got == 4) {
    KDAUG_CHECK(be32(raw.data()) == magic, "IDX ", kind, " file ", src.path(), " has wrong magic ",
                detail::hex32(be32(raw.data())), " (expected ", detail::hex32(magic), ")");
    got += src.read(raw.data() + 4, raw.size() - 4);
  }
  KDAUG_CHECK(got == raw.size(), "IDX ", kind, " file ", src.path(), " is truncated (expected at least ",
              raw.size(), " header bytes, got ", got, ")");
  std::vector<uint32_t> h(words);
  for (size_t i = 0; i < words; ++i) h[i] = be32(raw.data() + 4 * i);
  return h;
}

// Reads exactly `n` bytes after a header of `header` bytes, and checks nothing follows.
void read_body(detail::ByteSource& src, void* dst, uint64_t n, uint64_t header, const char* kind) {
  const size_t got = src.read(dst, n);
  KDAUG_CHECK(got == n, "IDX ", kind, " file ", src.path(), " is truncated (expected ", header + n,
              " bytes, got ", header + got, ")");
  KDAUG_CHECK(!src.has_more(), "IDX ", kind, " file ", src.path(), " is longer than its header says (",
              header + n, " bytes expected)");
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes) {
  KDAUG_CHECK(num_classes >= 1 && num_classes <= 256, "IDX num_classes must be in [1, 256], got ", num_classes);

  detail::ByteSource img_src(images_path, "IDX image file");
  const auto ih = read_header(img_src, 4, kIdxImagesMagic, "image");
  const uint32_t n = ih[1], h = ih[2], w = ih[3];
  KDAUG_CHECK(n > 0, "IDX image file ", images_path, " contains 0 images");
  KDAUG_CHECK(n < kMaxCount, "IDX image file ", images_path, " has an absurd image count ", n);
  KDAUG_CHECK(h >= 1 && h <= kMaxSide && w >= 1 && w <= kMaxSide, "IDX image file ", images_path,
              " has absurd image size ", h, "x", w, " (each side must be in [1, ", kMaxSide, "])");

  detail::ByteSource lbl_src(labels_path, "IDX label file");
  const auto lh = read_header(lbl_src, 2, kIdxLabelsMagic, "label");
  KDAUG_CHECK(lh[1] == n, "IDX count mismatch: ", images_path, " has ", n, " images but ", labels_path, " has ",
              lh[1], " labels");

  at::Tensor images = at::empty({int64_t{n}, 1, int64_t{h}, int64_t{w}}, at::kByte);
  read_body(img_src, images.data_ptr<uint8_t>(), uint64_t{n} * h * w, 16, "image");

  std::vector<uint8_t> raw(n);
  read_body(lbl_src, raw.data(), n, 8, "label");
  at::Tensor labels = at::empty({int64_t{n}}, at::kLong);
  int64_t* lp = labels.data_ptr<int64_t>();
  for (uint32_t i = 0; i < n; ++i) {
    KDAUG_CHECK(raw[i] < num_classes, "IDX label file ", labels_path, ": label at index ", i, " is ",
                int{raw[i]}, ", not in [0, ", num_classes, ")");
    lp[i] = raw[i];
  }

  Dataset ds;
  ds.images = images;
  ds.labels = labels;
  ds.num_classes = num_classes;
  ds.name = "idx";
  for (int64_t c = 0; c < num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  detail::channel_stats(images, ds.mean, ds.std);
  return ds;
}

}  // namespace kdaug::data
