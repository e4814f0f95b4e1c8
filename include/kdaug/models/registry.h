// The model zoo by name: building a model from a ModelSpec, the list of names, and cost
// (parameters, multiply-accumulates).
//
// Names (parsed, so every depth/width of a family works, not only the listed ones):
//   resnetD       CIFAR ResNet, D = 6n+2 >= 8 (resnet8, 14, 20, 32, 44, 56, 110, ...)
//   vggD_bn       VGG with BatchNorm, D in {11, 13, 16, 19}; honours spec.width_mult
//   mobilenetv2   MobileNetV2 with CIFAR strides; honours spec.width_mult
//   wrn_D_K       pre-activation Wide ResNet, D = 6n+4 >= 10, K >= 1 (wrn_16_2, wrn_28_10, ...)
// resnet* and wrn_* require width_mult == 1 (WRN's width is K).
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kdaug/models/model.h"

namespace kdaug::models {

// Builds the model named by spec.name on the CPU, in training mode, with every parameter drawn
// from a generator seeded with `seed` (no global RNG; same spec + seed => bit-identical
// parameters). Convs: Kaiming normal (fan_out, ReLU gain); BN: weight 1, bias 0; linear:
// uniform(+-1/sqrt(fan_in)). Throws kdaug::Error for an unknown name (listing the known
// ones) or a bad spec field (see check_model_spec).
Classifier make_model(const ModelSpec& spec, uint64_t seed = 0);

// Validates a spec without building it. Throws kdaug::Error naming the field and the value:
// unknown name / bad depth, in_channels <= 0, num_classes < 2, height or width < 8,
// width_mult <= 0 or not finite (or != 1 for resnet/wrn), mean/std length != in_channels,
// std <= 0 or any non-finite mean/std.
void check_model_spec(const ModelSpec& spec);

// The canonical names: the benchmark's models plus WRN examples (wrn_D_K is parsed generally).
std::vector<std::string> model_names();

// Cost of one model.
//   params: trainable parameters (BN running statistics and normalisation buffers excluded).
//   macs:   multiply-accumulates of one forward pass on ONE image of spec's size: a conv counts
//           Hout*Wout*k*k*(Cin/groups)*Cout, a linear layer in*out; BN, activations, pooling,
//           additions and the input normalisation are not counted. This is the number that
//           CIFAR KD papers (CRD, DKD, ...) report as "FLOPs"; real FLOPs are about 2x.
struct ModelCost {
  int64_t params = 0;
  int64_t macs = 0;
};
// Builds the model and measures it with one forward pass on a zero image (a second or so for
// the largest WRNs). Throws like make_model.
ModelCost model_cost(const ModelSpec& spec);

// Number of parameter elements of a module and its children (trainable or frozen).
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace kdaug::models
