#include "kdaug/report/tensorboard.h"

#include <ATen/ATen.h>
#include <stb_image_write.h>  // compiled once, in src/augment/png.cpp
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "kdaug/augment/pipeline.h"
#include "kdaug/augment/png.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/data/dataset.h"
#include "kdaug/train/trainer.h"

namespace fs = std::filesystem;

namespace kdaug::report {

namespace {

// Byte-at-a-time table for the reflected Castagnoli polynomial.
std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

// ---- protobuf wire format (only what Event needs) ----------------------------------------
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_double(std::string& out, int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  put_key(out, field, 1);
  put_le(out, bits, 8);
}
void put_float(std::string& out, int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  put_key(out, field, 5);
  put_le(out, bits, 4);
}
void put_int(std::string& out, int field, int64_t v) {  // int32/int64: two's complement varint
  put_key(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_bytes(std::string& out, int field, const std::string& b) {
  put_key(out, field, 2);
  put_varint(out, b.size());
  out += b;
}

// Event{step, summary{value{...}}}: the wall time is prepended by write_event.
std::string summary_event(const std::string& value, int64_t step) {
  std::string summary, event;
  put_bytes(summary, 1, value);
  if (step != 0) put_int(event, 2, step);  // proto3 leaves a default (0) out, as TensorFlow's writer does
  put_bytes(event, 5, summary);
  return event;
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == 0) return "localhost";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == ' ') c = '_';
  return h;
}

uint32_t be32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  static const auto table = make_crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& payload) {
  std::string len, out;
  put_le(len, payload.size(), 8);
  out = len;
  put_le(out, masked_crc32c(len.data(), len.size()), 4);
  out += payload;
  put_le(out, masked_crc32c(payload.data(), payload.size()), 4);
  return out;
}

std::string encode_png(const at::Tensor& img) {
  KDAUG_CHECK(img.dim() == 3, "encode_png: expected an image [C,H,W], got shape ", img.sizes());
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  KDAUG_CHECK(c == 1 || c == 3 || c == 4, "encode_png: expected 1, 3 or 4 channels, got ", c);
  KDAUG_CHECK(img.scalar_type() == at::kByte, "encode_png: expected uint8, got ", img.scalar_type());
  KDAUG_CHECK(h > 0 && w > 0, "encode_png: empty image ", h, "x", w);
  auto hwc = img.to(at::kCPU).permute({1, 2, 0}).contiguous();
  std::string out;
  const int ok = stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &out, int(w), int(h), int(c), hwc.data_ptr<uint8_t>(), int(w * c));
  KDAUG_CHECK(ok != 0 && !out.empty(), "encode_png: stb_image_write failed for a ", c, "x", h, "x", w, " image");
  return out;
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  KDAUG_CHECK(!ec, "cannot create event directory ", dir, ": ", ec.message());
  const std::string base = (fs::path(dir) / ("events.out.tfevents." + std::to_string(static_cast<int64_t>(wall_time())) +
                                             "." + host_name()))
                               .string();
  path_ = base;
  for (int i = 1; fs::exists(path_); ++i) path_ = base + "." + std::to_string(i);
  out_.open(path_, std::ios::binary | std::ios::out | std::ios::trunc);
  KDAUG_CHECK(out_.good(), "cannot create event file ", path_, ": ", std::strerror(errno));
  std::string ev;
  put_bytes(ev, 3, "brain.Event:2");
  write_event(ev);
  flush();
}

EventWriter::~EventWriter() {
  if (out_.is_open()) out_.flush();
}

void EventWriter::write_event(const std::string& event_without_time) {
  std::string ev;
  put_double(ev, 1, wall_time());
  ev += event_without_time;  // protobuf fields may come in any order
  const std::string rec = tfrecord_frame(ev);
  out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
}

void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  KDAUG_CHECK(!tag.empty(), "event file ", path_, ": a scalar needs a tag");
  std::string v;
  put_bytes(v, 1, tag);
  put_float(v, 2, static_cast<float>(value));
  write_event(summary_event(v, step));
}

void EventWriter::add_image(const std::string& tag, const at::Tensor& img, int64_t step) {
  add_png(tag, encode_png(img), step);
}

void EventWriter::add_png(const std::string& tag, const std::string& png, int64_t step) {
  KDAUG_CHECK(!tag.empty(), "event file ", path_, ": an image needs a tag");
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  KDAUG_CHECK(png.size() >= 33 && png.compare(0, 8, kSignature, 8) == 0 && png.compare(12, 4, "IHDR") == 0,
              "image '", tag, "': not a PNG (", png.size(), " bytes)");
  const uint32_t width = be32(png, 16), height = be32(png, 20);
  const int color_type = static_cast<uint8_t>(png[25]);
  // PNG colour type -> TensorBoard colour space (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
  const int colorspace = color_type == 0 ? 1 : color_type == 4 ? 2 : color_type == 6 ? 4 : 3;
  std::string image, v;
  put_int(image, 1, height);
  put_int(image, 2, width);
  put_int(image, 3, colorspace);
  put_bytes(image, 4, png);
  put_bytes(v, 1, tag);
  put_bytes(v, 4, image);
  write_event(summary_event(v, step));
}

void EventWriter::flush() {
  out_.flush();
  KDAUG_CHECK(out_.good(), "cannot write event file ", path_, ": ", std::strerror(errno));
}

void add_epoch(EventWriter& w, const train::EpochRecord& r) {
  const int64_t s = r.epoch;
  w.add_scalar("loss/train", r.train_loss, s);
  for (const auto& [k, v] : r.terms) w.add_scalar("loss/" + k, v, s);
  w.add_scalar("accuracy/train", r.train_acc, s);
  if (r.val_acc >= 0) {
    w.add_scalar("accuracy/val", r.val_acc, s);
    w.add_scalar("nll/val", r.val_nll, s);
  }
  w.add_scalar("lr", r.lr, s);
  w.add_scalar("throughput/images_per_s", r.images_per_s, s);
  w.flush();
}

std::string write_augmentation_preview(const std::string& dir, const augment::AugmentConfig& cfg,
                                       const data::Dataset& train, uint64_t seed, EventWriter* w, int64_t n) {
  if (cfg.augment.empty() && cfg.perturb.empty()) return "";
  n = std::min<int64_t>(n, train.size());
  KDAUG_CHECK(n > 0, "augmentation preview: the training set is empty");
  const auto x = augment::to_float_image(train.images.slice(0, 0, n));
  auto gen = make_generator(seed);
  const auto x1 = cfg.augment.empty() ? x : cfg.augment(x, gen);
  const auto x2 = cfg.perturb.empty() ? at::Tensor() : cfg.perturb(x1, gen);
  const std::string png = (fs::path(dir) / "preview.png").string();
  augment::write_preview_grid(png, x, x1, x2, 2);
  if (w != nullptr) {
    std::ifstream in(png, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    w->add_png("augmentation/preview", bytes, 0);
    w->flush();
  }
  return png;
}

}  // namespace kdaug::report
