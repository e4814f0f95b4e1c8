// Memory layout of a model's weights.
#pragma once

#include <torch/nn/module.h>

namespace kdaug::models {

// Re-lays every 4-D parameter and buffer of `m` out as channels-last (NHWC); values unchanged.
// With NHWC inputs, oneDNN (CPU, bf16 above all) and cuDNN pick faster convolution kernels.
void to_channels_last(torch::nn::Module& m);

}  // namespace kdaug::models
