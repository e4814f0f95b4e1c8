#include "byte_source.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"

namespace kdaug::data::detail {

ByteSource::ByteSource(const std::string& path, const std::string& what) : path_(path) {
  require_readable(path, what);
  gzFile f = gzopen(path.c_str(), "rb");
  KDAUG_CHECK(f != nullptr, "cannot open ", what, " ", path, ": ", std::strerror(errno));
  // The default 8 KiB buffer makes decompressing 47 MB of MNIST pixels noticeably slower.
  gzbuffer(f, 1 << 20);
  file_ = f;
}

ByteSource::~ByteSource() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

size_t ByteSource::read(void* buf, size_t n) {
  auto* out = static_cast<unsigned char*>(buf);
  size_t total = 0;
  gzFile f = static_cast<gzFile>(file_);
  while (total < n) {
    // gzread takes an unsigned and returns an int: read in chunks well below INT_MAX.
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, size_t{1} << 30));
    const int got = gzread(f, out + total, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      // Z_BUF_ERROR: the compressed stream ends early, i.e. the file is truncated.
      if (errnum == Z_BUF_ERROR) break;
      if (errnum == Z_ERRNO) KDAUG_FAIL("cannot read ", path_, ": ", std::strerror(errno));
      // zlib prefixes its message with the path; keep only the reason.
      std::string reason = msg != nullptr ? msg : "unknown error";
      if (reason.rfind(path_ + ": ", 0) == 0) reason = reason.substr(path_.size() + 2);
      KDAUG_FAIL("cannot read ", path_, ": corrupt gzip data (", reason, ")");
    }
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  return total;
}

std::vector<uint8_t> ByteSource::read_all() {
  std::vector<uint8_t> data;
  size_t used = 0;
  for (;;) {
    data.resize(used + (size_t{1} << 20));
    const size_t got = read(data.data() + used, data.size() - used);
    used += got;
    if (used < data.size()) break;
  }
  data.resize(used);
  return data;
}

bool ByteSource::has_more() {
  unsigned char c = 0;
  return read(&c, 1) == 1;
}

void channel_stats(const at::Tensor& images, std::vector<double>& mean, std::vector<double>& std) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte, "channel_stats: uint8 [N,C,H,W] expected");
  const int64_t n = images.size(0), c = images.size(1), hw = images.size(2) * images.size(3);
  mean.assign(c, 0.5);
  std.assign(c, 0.5);
  if (n == 0 || hw == 0) return;
  const at::Tensor img = images.contiguous();
  const uint8_t* p = img.data_ptr<uint8_t>();
  std::vector<uint64_t> sum(c, 0), sq(c, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const uint8_t* q = p + (i * c + ch) * hw;
      uint64_t s = 0, s2 = 0;
      for (int64_t k = 0; k < hw; ++k) {
        s += q[k];
        s2 += static_cast<uint64_t>(q[k]) * q[k];
      }
      sum[ch] += s;
      sq[ch] += s2;
    }
  }
  const double count = static_cast<double>(n) * static_cast<double>(hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = static_cast<double>(sum[ch]) / count;
    const double var = std::max(0.0, static_cast<double>(sq[ch]) / count - m * m);
    mean[ch] = m / 255.0;
    // A constant channel would make normalisation divide by zero; 1 leaves it centred only.
    std[ch] = var > 0 ? std::sqrt(var) / 255.0 : 1.0;
  }
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace kdaug::data::detail
