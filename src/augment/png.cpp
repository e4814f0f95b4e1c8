// The one translation unit that compiles stb_image_write.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "kdaug/augment/png.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/io.h"

namespace kdaug::augment {

void write_png(const std::string& path, const at::Tensor& img) {
  KDAUG_CHECK(img.dim() == 3, "write_png ", path, ": expected an image [C,H,W], got shape ", img.sizes());
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  KDAUG_CHECK(c == 1 || c == 3 || c == 4, "write_png ", path, ": expected 1, 3 or 4 channels, got ", c);
  KDAUG_CHECK(img.scalar_type() == at::kByte, "write_png ", path, ": expected uint8, got ", img.scalar_type());
  KDAUG_CHECK(h > 0 && w > 0, "write_png ", path, ": empty image ", h, "x", w);
  auto hwc = img.to(at::kCPU).permute({1, 2, 0}).contiguous();
  write_path_atomic(path, [&](const std::string& tmp) {
    const int ok = stbi_write_png(tmp.c_str(), int(w), int(h), int(c), hwc.data_ptr<uint8_t>(), int(w * c));
    KDAUG_CHECK(ok != 0, "cannot write ", path, ": stb_image_write failed");
  });
}

void write_preview_grid(const std::string& png_path, const at::Tensor& originals, const at::Tensor& augmented,
                        const at::Tensor& perturbed, int64_t scale) {
  KDAUG_CHECK(scale >= 1 && scale <= 64, "preview ", png_path, ": scale must be in [1, 64], got ", scale);
  std::vector<at::Tensor> rows = {originals, augmented};
  if (perturbed.defined()) rows.push_back(perturbed);
  int64_t n = -1, c = -1, h = 0, w = 0;
  for (const auto& r : rows) {
    KDAUG_CHECK(r.defined() && r.dim() == 4, "preview ", png_path, ": images must be [N,C,H,W]");
    KDAUG_CHECK(n < 0 || (r.size(0) == n && r.size(1) == c), "preview ", png_path,
                ": rows differ in count or channels: ", r.sizes(), " vs [", n, ",", c, ",...]");
    n = r.size(0), c = r.size(1);
    h = std::max(h, r.size(2)), w = std::max(w, r.size(3));
  }
  KDAUG_CHECK(c == 1 || c == 3, "preview ", png_path, ": expected 1 or 3 channels, got ", c);
  KDAUG_CHECK(n > 0, "preview ", png_path, ": no images");
  constexpr int64_t kGap = 2;
  const int64_t gh = int64_t(rows.size()) * (h + kGap) + kGap, gw = n * (w + kGap) + kGap;
  auto grid = at::full({c, gh, gw}, 128, at::TensorOptions().dtype(at::kByte));
  for (size_t r = 0; r < rows.size(); ++r) {
    auto imgs = rows[r].to(at::kCPU);
    imgs = imgs.scalar_type() == at::kByte ? imgs : to_uint8_image(imgs.clamp(0, 1));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y0 = kGap + int64_t(r) * (h + kGap), x0 = kGap + i * (w + kGap);
      grid.slice(1, y0, y0 + imgs.size(2)).slice(2, x0, x0 + imgs.size(3)).copy_(imgs[i]);
    }
  }
  if (scale > 1) grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2);
  write_png(png_path, grid);
}

}  // namespace kdaug::augment
