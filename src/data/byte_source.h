// Internal to src/data: reading dataset files that may or may not be gzip-compressed, and
// per-channel statistics of uint8 images.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kdaug::data::detail {

// WHAT THIS REPRESENTS: one open input file, read as a byte stream. zlib's gzread passes
// uncompressed files through unchanged, so `.gz` and raw files share this path.
// Every error is a kdaug::Error naming the file.
class ByteSource {
 public:
  ByteSource(const std::string& path, const std::string& what);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  // Reads up to n bytes into buf; returns fewer only at the end of the (decompressed) data.
  // A gzip stream that ends early counts as end of data (the caller reports the truncation).
  size_t read(void* buf, size_t n);
  // Everything from the current position to the end.
  std::vector<uint8_t> read_all();
  // True when at least one more byte can be read (consumes it).
  bool has_more();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* file_ = nullptr;  // gzFile, kept opaque so this header does not need zlib.h
};

// Per-channel mean and standard deviation of uint8 [N,C,H,W] images scaled to [0,1], computed
// exactly with integer sums. Returns C entries each; {0.5}/{0.5} per channel when N == 0, and
// std 1 for a constant channel.
void channel_stats(const at::Tensor& images, std::vector<double>& mean, std::vector<double>& std);

// "0x00000803"
std::string hex32(uint32_t v);

}  // namespace kdaug::data::detail
