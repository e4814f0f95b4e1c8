// JPEG round trip through stb (private to src/eval).
#pragma once

#include <ATen/core/Tensor.h>

namespace kdaug::eval::detail {

// Encodes every image as a baseline JPEG at `quality` (1..100) with stb_image_write and decodes
// it with stb_image. images: float [N,C,H,W] in [0,1], C = 1 or 3, any device (the codec runs
// on the CPU). Returns float32 of the same shape on the same device.
at::Tensor jpeg_round_trip(const at::Tensor& images, int quality);

}  // namespace kdaug::eval::detail
