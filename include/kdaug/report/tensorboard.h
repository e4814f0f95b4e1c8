// TensorBoard event files, written without TensorFlow or a protobuf library: each record is a
// hand-encoded `Event` protobuf in TFRecord framing, so `tensorboard --logdir runs` reads them.
//
// WHAT THIS REPRESENTS: one append-only file DIR/events.out.tfevents.<unix time>.<host> (a
// ".<n>" suffix when that name is taken). The first record carries file_version
// "brain.Event:2"; every later one a Summary with one value (a scalar or a PNG image).
// Records reach the disk at flush() (the trainer hook flushes once per epoch) and on destruction.
//
// Record framing (TFRecord): uint64 length (little endian), uint32 masked_crc32c(length bytes),
// the Event bytes, uint32 masked_crc32c(Event bytes). Event fields written: wall_time (1,
// double), step (2, int64), file_version (3, string), summary (5) -> value (1) -> tag (1),
// simple_value (2, float) | image (4) -> height (1), width (2), colorspace (3),
// encoded_image_string (4, PNG bytes).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

namespace kdaug::train {
struct EpochRecord;
}
namespace kdaug::augment {
struct AugmentConfig;
}
namespace kdaug::data {
struct Dataset;
}

namespace kdaug::report {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `n` bytes, continuing from `crc`
// (0 to start). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
// TFRecord's masked CRC: ((c >> 15) | (c << 17)) + 0xa282ead8 with c = crc32c(data).
uint32_t masked_crc32c(const void* data, size_t n);

// The bytes of one TFRecord around `payload` (length, masked CRC of the length, payload,
// masked CRC of the payload).
std::string tfrecord_frame(const std::string& payload);

// PNG encoding (stb) of an image. img: uint8 [C,H,W], C in {1, 3, 4}, any device.
std::string encode_png(const at::Tensor& img);

class EventWriter {
 public:
  // Creates `dir` when needed and the event file inside it, and writes the file_version record.
  // Throws kdaug::Error naming the path when the file cannot be created.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // A scalar under `tag` (e.g. "loss/train") at `step`. Non-finite values are written as they are
  // (TensorBoard shows NaN); the tag must not be empty.
  void add_scalar(const std::string& tag, double value, int64_t step);
  // An image: uint8 [C,H,W] with C in {1, 3, 4} (gray, RGB, RGBA), any device.
  void add_image(const std::string& tag, const at::Tensor& img, int64_t step);
  // An already encoded PNG (height, width and colour space are read from its IHDR chunk).
  void add_png(const std::string& tag, const std::string& png_bytes, int64_t step);
  // Pushes buffered records to the file; throws kdaug::Error naming the path on a write error.
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event_without_time);
  std::string path_;
  std::ofstream out_;
};

// The scalars of one training epoch, at step = epoch: loss/train, loss/<term> for each loss term,
// accuracy/train, accuracy/val and nll/val (when validated), lr, throughput/images_per_s; then
// flushes.
void add_epoch(EventWriter& w, const train::EpochRecord& r);

// Draws the augmentation preview grid (rows x, x' = cfg.augment(x), x'' = cfg.perturb(x')) of the
// first `n` training images with a generator seeded `seed`, writes it to DIR/preview.png and, when
// `w` is given, adds it as the image "augmentation/preview" at step 0. Does nothing (returns "")
// when cfg.augment and cfg.perturb are both empty; otherwise returns the PNG path.
std::string write_augmentation_preview(const std::string& dir, const augment::AugmentConfig& cfg,
                                       const data::Dataset& train, uint64_t seed, EventWriter* w, int64_t n = 8);

}  // namespace kdaug::report
