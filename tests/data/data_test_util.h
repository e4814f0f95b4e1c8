// Helpers shared by the data tests: a temporary directory and writers for tiny IDX/CIFAR files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kdaug_test {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() / ("kdaug_data_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const Bytes& data) {
  fs::create_directories(fs::path(path).parent_path());
  if (path.size() > 3 && path.substr(path.size() - 3) == ".gz") {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    if (!data.empty()) ASSERT_EQ(gzwrite(f, data.data(), static_cast<unsigned>(data.size())), int(data.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    ASSERT_TRUE(out.good()) << path;
  }
}

inline void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// Pixel (i, y, x) of the generated images: distinct per sample and position.
inline uint8_t test_pixel(int64_t i, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((i * 31 + c * 7 + y * 5 + x * 3) % 256);
}

inline Bytes idx_images(uint32_t n, uint32_t h, uint32_t w, uint32_t magic = 0x00000803) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, h);
  put_be32(b, w);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) b.push_back(test_pixel(i, 0, y, x));
  return b;
}

inline Bytes idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x00000801) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// CIFAR records: label bytes then 3x32x32 pixels (planes R, G, B).
inline Bytes cifar_records(const std::vector<std::vector<uint8_t>>& label_bytes, int64_t first_index) {
  Bytes b;
  for (size_t r = 0; r < label_bytes.size(); ++r) {
    b.insert(b.end(), label_bytes[r].begin(), label_bytes[r].end());
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) b.push_back(test_pixel(first_index + int64_t(r), c, y, x));
  }
  return b;
}

// Runs `body` and fails the test (instead of hanging the suite) when it takes over `seconds`.
template <class F>
void within_seconds(double seconds, F body) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread watchdog([done, seconds] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done->load()) {
      if (std::chrono::steady_clock::now() > until) {
        std::fprintf(stderr, "deadlock: test body did not finish within %.0f s\n", seconds);
        std::_Exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  try {
    body();
  } catch (...) {
    done->store(true);
    watchdog.join();
    throw;
  }
  done->store(true);
  watchdog.join();
}

// Expects `body` to throw kdaug::Error whose message contains every one of `parts`.
#define EXPECT_KDAUG_ERROR(body, ...)                                                        \
  do {                                                                                       \
    try {                                                                                    \
      body;                                                                                  \
      ADD_FAILURE() << "no kdaug::Error from " #body;                                        \
    } catch (const kdaug::Error& e) {                                                        \
      const std::string msg = e.what();                                                      \
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;                                   \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {                \
        EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;  \
      }                                                                                      \
    }                                                                                        \
  } while (0)

}  // namespace kdaug_test
