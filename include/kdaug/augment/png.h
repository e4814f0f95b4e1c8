// PNG output (stb_image_write), shared by every area that writes images, and the augmentation
// preview grid.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace kdaug::augment {

// Writes an image atomically. img: uint8 [C,H,W] with C in {1, 3, 4} (gray, RGB, RGBA), any
// device. Throws kdaug::Error naming the path when the shape is wrong or the write fails.
void write_png(const std::string& path, const at::Tensor& img);

// Writes a grid with three rows: originals, their augmented views x' and the perturbed views
// x''. Each is [N,C,H,W] (float in [0,1] or uint8), C 1 or 3, all with the same N and C (H, W may
// differ: cells take the largest size). Cells are separated by 2 pixels and the whole grid is
// enlarged `scale` times (nearest neighbour). An undefined `perturbed` leaves out the third row.
void write_preview_grid(const std::string& png_path, const at::Tensor& originals, const at::Tensor& augmented,
                        const at::Tensor& perturbed, int64_t scale = 2);

}  // namespace kdaug::augment
