// Feature-level distillation on the model zoo's feature taps (models::Features::taps):
// FitNets hints (Romero et al. 2015) and attention transfer (Zagoruyko & Komodakis 2017).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace kdaug::distill {

struct HintOptions {
  HintOptions(int64_t student_channels, int64_t teacher_channels)
      : student_channels_(student_channels), teacher_channels_(teacher_channels) {}
  TORCH_ARG(int64_t, student_channels);  // C of the student's tap
  TORCH_ARG(int64_t, teacher_channels);  // C of the teacher's tap
};

// WHAT THIS REPRESENTS: a FitNets hint. A learned 1x1 convolution (with bias) maps the
// student's tap to the teacher's channel count; the loss is the MSE (mean over all elements)
// between the adapted student features and the teacher's.
//   forward(student, teacher): student float [B, Cs, Hs, Ws] (gradients flow), teacher
//   [B, Ct, Ht, Wt] (a constant, detached), same device. When the spatial sizes differ the
//   adapted student map is resized bilinearly (align_corners false) to Ht x Wt.
// The adapter's parameters must be given to the optimiser with the student's.
class HintImpl : public torch::nn::Module {
 public:
  explicit HintImpl(const HintOptions& options);
  at::Tensor forward(const at::Tensor& student, const at::Tensor& teacher);
  void reset();

  HintOptions options;
  torch::nn::Conv2d adapter{nullptr};
};
TORCH_MODULE(Hint);

// Spatial attention map of a feature tensor: mean over channels of |f|^p, flattened and
// L2-normalised per sample. f: [B, C, H, W] -> [B, H * W].
at::Tensor attention_map(const at::Tensor& features, double p = 2.0);

// Attention transfer: sum over tap pairs i of mean_{b, j} (a_s - a_t)^2, where a are the
// normalised attention maps (Zagoruyko & Komodakis' at_loss; their beta/2 factor is left
// to the term weight). Pairs with different spatial sizes are compared at the smaller size
// (adaptive average pooling of the |f|^p map before normalising), so student and teacher
// may differ in architecture; channel counts may differ freely.
//   student_taps, teacher_taps: same length >= 1; element i is [B, C_i, H_i, W_i] for both,
//   same B and device. Teacher taps are constants. p > 0.
at::Tensor at_loss(const std::vector<at::Tensor>& student_taps,
                   const std::vector<at::Tensor>& teacher_taps, double p = 2.0);

}  // namespace kdaug::distill
