// Pipeline: an ordered list of ops built from a recipe list, applied to whole batches, that
// returns the parameters it used and replays them on demand.
//
// Recipe form (YAML), each item a one-key map {op_name: {parameter: value, ...}}:
//   augment: [{crop: {padding: 2}}, {rotate: {degrees: 10}}, {scale: {min: 0.9, max: 1.1}}, {hflip: {p: 0.5}}]
//   perturb: [{gaussian_noise: {sigma: 0.1}}]
// Op names and parameters: docs/augment.md.
//
// Speed: consecutive affine ops (zero-padded crop that keeps the size, flips, rotate, scale,
// translate, shear) with the same interpolation and fill are composed into one inverse matrix
// per sample and applied with ONE affine_grid + grid_sample per batch. A group without a
// resampling op (only flips / integer crops) is applied exactly, op by op.
//
// Reproducibility: parameters come only from the generator passed in (a CPU generator seeded
// from the recipe), so the same seed gives the same views on every device and thread count.
// Where one value per view must be stored (the soft-label cache), use
// sample_params_from_seeds: each sample's parameters are a function of one int64 seed only.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "kdaug/augment/op.h"

namespace YAML {
class Node;
}

namespace kdaug::augment {

// Parameters of one pipeline call: one OpParams per op, in pipeline order, each tensor [B, ...].
struct PipelineParams {
  std::vector<OpParams> ops;

  // B (0 when there are no ops).
  int64_t batch_size() const;
  // The samples at idx (int64 [K], any device), in that order.
  PipelineParams select(const at::Tensor& idx) const;
  // Concatenates batches of parameters from the same pipeline along the sample dimension.
  static PipelineParams cat(const std::vector<PipelineParams>& parts);
  // The same parameters on another device.
  PipelineParams to(c10::Device device) const;
};

class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(std::vector<OpPtr> ops);

  // `list`: a YAML sequence of one-key maps (null/undefined = empty pipeline). `where` names the
  // recipe key in errors, e.g. "augment[2].rotate: unknown parameter 'degree' (known: ...)".
  static Pipeline from_yaml(const YAML::Node& list, const std::string& where);

  // Augments a batch. x: float [B,C,H,W] in [0,1] or uint8 [B,C,H,W] (returned as uint8,
  // rounded), any device. Parameters are drawn from `gen` (a CPU generator); when `used` is
  // given it receives them (on x's device). Equivalent to replay(x, sample_params(...)).
  at::Tensor operator()(const at::Tensor& x, at::Generator& gen, PipelineParams* used = nullptr) const;
  // Applies given parameters (same B as x); bit-identical to the call that produced them.
  at::Tensor replay(const at::Tensor& x, const PipelineParams& params) const;

  // Draws parameters for `batch` images of shape `in` (on `device`).
  PipelineParams sample_params(int64_t batch, const ImageShape& in, at::Generator& gen, c10::Device device) const;
  // Parameters of sample i drawn from a generator seeded with seeds[i] alone (int64 [B], CPU):
  // a cache can store one seed per view and recreate the view later.
  PipelineParams sample_params_from_seeds(const at::Tensor& seeds, const ImageShape& in, c10::Device device) const;

  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  const std::vector<OpPtr>& ops() const { return ops_; }
  ImageShape out_shape(const ImageShape& in) const;
  // One line per op, e.g. "rotate(degrees=[-10, 10], p=1, interpolation=bilinear, fill=0)".
  std::string describe() const;

 private:
  std::vector<OpPtr> ops_;
};

// The `augment:` (x') and `perturb:` (x'') pipelines of a recipe; both may be empty.
struct AugmentConfig {
  Pipeline augment;
  Pipeline perturb;
};
// Reads the `augment:` and `perturb:` keys of a recipe's root map (other keys are ignored).
AugmentConfig augment_config_from_yaml(const YAML::Node& recipe_root);

// Converts uint8 [B,C,H,W] to float in [0,1] (floats are returned as they are), and back.
at::Tensor to_float_image(const at::Tensor& x);
at::Tensor to_uint8_image(const at::Tensor& x);

}  // namespace kdaug::augment
