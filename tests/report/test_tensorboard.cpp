// TensorBoard event files: CRC-32C against published check values, TFRecord framing by hand, and
// a written file decoded independently by tests/report/tb_decode.py (bitwise CRC, python3-protobuf
// with TensorFlow's field numbers, Pillow for the PNG).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <string>

#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"
#include "kdaug/report/tensorboard.h"
#include "kdaug/train/trainer.h"

namespace fs = std::filesystem;
using namespace kdaug::report;

namespace {
std::string temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_tb_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
// Runs a command, returns its stdout and exit code.
std::pair<std::string, int> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  return {out, pclose(p)};
}
bool have_decoder() {
  return run_command("/usr/bin/python3 -c 'import google.protobuf' 2>/dev/null").second == 0;
}
nlohmann::json decode(const std::string& path) {
  const auto [out, code] =
      run_command("/usr/bin/python3 " KDAUG_SOURCE_DIR "/tests/report/tb_decode.py '" + path + "'");
  EXPECT_EQ(code, 0) << out;
  return code == 0 ? nlohmann::json::parse(out) : nlohmann::json::array();
}
}  // namespace

TEST(TensorBoard, Crc32cCheckValues) {
  // The CRC catalogue's check value for CRC-32C, and RFC 3720 (iSCSI) B.4 test vectors.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  // Continuing from a previous CRC is the CRC of the concatenation.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(TensorBoard, RecordFraming) {
  const std::string payload = "hello";
  const std::string rec = tfrecord_frame(payload);
  ASSERT_EQ(rec.size(), 8u + 4u + payload.size() + 4u);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<uint8_t>(rec[i])) << (8 * i);
  EXPECT_EQ(len, payload.size());
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(rec[at + i])) << (8 * i);
    return v;
  };
  const uint32_t c = crc32c(rec.data(), 8);
  EXPECT_EQ(u32(8), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  EXPECT_EQ(rec.substr(12, payload.size()), payload);
  EXPECT_EQ(u32(12 + payload.size()), masked_crc32c(payload.data(), payload.size()));
}

TEST(TensorBoard, EncodePngRejectsBadImages) {
  EXPECT_THROW(encode_png(at::zeros({2, 4, 4}, at::kByte)), kdaug::Error);
  EXPECT_THROW(encode_png(at::zeros({1, 4, 4}, at::kFloat)), kdaug::Error);
  EXPECT_THROW(encode_png(at::zeros({4, 4}, at::kByte)), kdaug::Error);
  const auto png = encode_png(at::zeros({3, 5, 7}, at::kByte));
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

TEST(TensorBoard, FileDecodesIndependently) {
  if (!have_decoder()) GTEST_SKIP() << "python3-protobuf not installed";
  const auto dir = temp_dir("decode");
  std::string path;
  {
    EventWriter w(dir);
    path = w.path();
    EXPECT_NE(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), std::string::npos);
    w.add_scalar("loss/train", 0.75, 1);
    w.add_scalar("loss/train", 0.5, 2);
    w.add_scalar("lr", 0.1, 2);
    // A 3x4x6 RGB image whose pixel values are known: sum of 0..71.
    const auto img = at::arange(72, at::kLong).to(at::kByte).reshape({3, 4, 6});
    w.add_image("augmentation/preview", img, 7);
    w.add_image("gray", at::full({1, 2, 3}, 200, at::kByte), 8);
    w.flush();
  }
  const auto ev = decode(path);
  ASSERT_EQ(ev.size(), 6u) << ev.dump();
  EXPECT_EQ(ev[0]["file_version"], "brain.Event:2");
  EXPECT_GT(ev[0]["wall_time"].get<double>(), 1.6e9);  // seconds since 1970, after 2020
  EXPECT_EQ(ev[1]["step"], 1);
  EXPECT_EQ(ev[1]["values"][0]["tag"], "loss/train");
  EXPECT_EQ(ev[1]["values"][0]["kind"], "simple_value");
  EXPECT_FLOAT_EQ(ev[1]["values"][0]["simple_value"].get<float>(), 0.75f);
  EXPECT_EQ(ev[2]["step"], 2);
  EXPECT_FLOAT_EQ(ev[2]["values"][0]["simple_value"].get<float>(), 0.5f);
  EXPECT_EQ(ev[3]["values"][0]["tag"], "lr");
  EXPECT_FLOAT_EQ(ev[3]["values"][0]["simple_value"].get<float>(), 0.1f);
  const auto& im = ev[4]["values"][0];
  EXPECT_EQ(ev[4]["step"], 7);
  EXPECT_EQ(im["tag"], "augmentation/preview");
  EXPECT_EQ(im["kind"], "image");
  EXPECT_EQ(im["height"], 4);
  EXPECT_EQ(im["width"], 6);
  EXPECT_EQ(im["colorspace"], 3);
  EXPECT_TRUE(im["png_signature"].get<bool>());
  if (im.contains("decoded_width")) {
    EXPECT_EQ(im["decoded_width"], 6);
    EXPECT_EQ(im["decoded_height"], 4);
    EXPECT_EQ(im["decoded_mode"], "RGB");
    EXPECT_EQ(im["pixel_sum"], 71 * 72 / 2);
  }
  EXPECT_EQ(ev[5]["values"][0]["colorspace"], 1);
  EXPECT_EQ(ev[5]["values"][0]["width"], 3);
  fs::remove_all(dir);
}

TEST(TensorBoard, CorruptedFileIsRejectedByTheDecoder) {
  // The decoder must not accept anything: flip one payload byte and its data CRC check fails.
  if (!have_decoder()) GTEST_SKIP() << "python3-protobuf not installed";
  const auto dir = temp_dir("corrupt");
  std::string path;
  {
    EventWriter w(dir);
    path = w.path();
    w.add_scalar("x", 1.0, 1);
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-6, std::ios::end);  // inside the last record's payload
  f.put('\x7f');
  f.close();
  const auto [out, code] =
      run_command("/usr/bin/python3 " KDAUG_SOURCE_DIR "/tests/report/tb_decode.py '" + path + "' 2>&1");
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("CRC"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(TensorBoard, EpochScalarsAndTwoWritersInOneDirectory) {
  if (!have_decoder()) GTEST_SKIP() << "python3-protobuf not installed";
  const auto dir = temp_dir("epoch");
  kdaug::train::EpochRecord r;
  r.epoch = 3;
  r.train_loss = 1.25;
  r.train_acc = 0.5;
  r.lr = 0.05;
  r.val_acc = 0.625;
  r.val_nll = 0.875;
  r.images_per_s = 1000;
  r.terms = {{"ce", 0.25}, {"kl_augmented", 1.0}};
  EventWriter a(dir), b(dir);
  EXPECT_NE(a.path(), b.path());
  add_epoch(a, r);  // flushes
  const auto ev = decode(a.path());
  std::map<std::string, double> got;
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["step"], 3);
    got[ev[i]["values"][0]["tag"]] = ev[i]["values"][0]["simple_value"];
  }
  const std::map<std::string, double> want = {{"loss/train", 1.25},   {"loss/ce", 0.25},  {"loss/kl_augmented", 1.0},
                                              {"accuracy/train", 0.5}, {"accuracy/val", 0.625}, {"nll/val", 0.875},
                                              {"lr", 0.05},            {"throughput/images_per_s", 1000}};
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, v] : want) EXPECT_FLOAT_EQ(static_cast<float>(got[k]), static_cast<float>(v)) << k;
  fs::remove_all(dir);
}

TEST(TensorBoard, AugmentationPreview) {
  const auto dir = temp_dir("preview");
  kdaug::data::Dataset ds;
  ds.images = at::arange(10 * 8 * 8, at::kLong).remainder(256).to(at::kByte).reshape({10, 1, 8, 8});
  ds.labels = at::zeros({10}, at::kLong);
  // Nothing to draw without augmentation.
  EXPECT_EQ(write_augmentation_preview(dir, {}, ds, 0, nullptr), "");
  EXPECT_FALSE(fs::exists(fs::path(dir) / "preview.png"));
  kdaug::augment::AugmentConfig cfg;
  cfg.augment = kdaug::augment::Pipeline::from_yaml(YAML::Load("[{hflip: {p: 1}}]"), "augment");
  EventWriter w(dir);
  const auto png = write_augmentation_preview(dir, cfg, ds, 0, &w, 4);
  EXPECT_EQ(png, (fs::path(dir) / "preview.png").string());
  EXPECT_TRUE(fs::exists(png));
  if (!have_decoder()) return;
  const auto ev = decode(w.path());
  ASSERT_EQ(ev.size(), 2u);
  const auto& im = ev[1]["values"][0];
  EXPECT_EQ(im["tag"], "augmentation/preview");
  EXPECT_EQ(im["colorspace"], 1);
  // Two rows (x, x') of 4 cells of 8 pixels, 2-pixel gaps, enlarged twice: width > 4 * 8 * 2.
  EXPECT_GT(im["width"].get<int>(), 64);
  EXPECT_GT(im["height"].get<int>(), 32);
  fs::remove_all(dir);
}
