// stb_image's implementation lives here (the only decoder kdaug needs); stb_image_write's
// implementation is compiled once by the augment area's png.cpp, so only its declarations are
// included.
#include "jpeg.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstring>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

namespace kdaug::eval::detail {
namespace {
void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}
}  // namespace

at::Tensor jpeg_round_trip(const at::Tensor& images, int quality) {
  TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3),
              "jpeg_round_trip: images must be [N,1|3,H,W], got ", images.sizes());
  TORCH_CHECK(quality >= 1 && quality <= 100, "jpeg_round_trip: quality must be in 1..100, got ", quality);
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  // stb wants interleaved HWC bytes.
  auto bytes = images.detach()
                   .to(at::kCPU, at::kFloat)
                   .mul(255.0)
                   .round_()
                   .clamp_(0, 255)
                   .to(at::kByte)
                   .permute({0, 2, 3, 1})
                   .contiguous();
  auto out = at::empty_like(bytes);
  const int64_t per_image = h * w * c;
  // Images are independent: encode and decode them in parallel (stb keeps no mutable global
  // state on these paths), each thread with its own buffer.
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  at::parallel_for(0, n, /*grain_size=*/16, [&](int64_t begin, int64_t end) {
    std::vector<unsigned char> buffer;
    for (int64_t i = begin; i < end; ++i) {
      buffer.clear();
      const int ok = stbi_write_jpg_to_func(append_bytes, &buffer, static_cast<int>(w), static_cast<int>(h),
                                            static_cast<int>(c), src + i * per_image, quality);
      TORCH_CHECK(ok != 0 && !buffer.empty(), "jpeg_round_trip: stb failed to encode image ", i);
      int dw = 0, dh = 0, dc = 0;
      unsigned char* decoded = stbi_load_from_memory(buffer.data(), static_cast<int>(buffer.size()), &dw, &dh, &dc,
                                                     static_cast<int>(c));
      TORCH_CHECK(decoded != nullptr, "jpeg_round_trip: stb failed to decode image ", i, ": ", stbi_failure_reason());
      const bool same = dw == w && dh == h;
      if (same) std::memcpy(dst + i * per_image, decoded, static_cast<size_t>(per_image));
      stbi_image_free(decoded);
      TORCH_CHECK(same, "jpeg_round_trip: decoded size ", dw, "x", dh, " differs from ", w, "x", h);
    }
  });
  return out.permute({0, 3, 1, 2}).to(images.device(), at::kFloat).div_(255.0).contiguous();
}

}  // namespace kdaug::eval::detail
