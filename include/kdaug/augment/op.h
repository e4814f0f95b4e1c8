// One augmentation op = a parameter sampler + a deterministic apply(x, params).
//
// WHAT THIS REPRESENTS: a configured random transform (e.g. "rotate by U(-10,10) degrees with
// probability p"). sample() draws per-sample parameters for a batch; apply() is the pure op on
// given parameters, so apply(x, sample(...)) can be replayed bit for bit on the same or another
// batch (teacher and student seeing the same view, the soft-label cache).
//
// Parameters (OpParams) are per-sample tensors with leading dim B on the images' device; every
// op stores "apply" (bool [B], the per-sample probability-p mask) plus its own values, listed in
// docs/augment.md. Samplers draw only from the CPU generator they are given (at::rand & co. on
// the CPU, then moved to the device): same seed => same parameters on every device and thread
// count. Construction checks every value and throws kdaug::Error naming the recipe path.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kdaug/augment/functional.h"

namespace YAML {
class Node;
}

namespace kdaug::augment {

// Channels, height, width of the images an op sees (ops such as resized_crop change H, W).
struct ImageShape {
  int64_t c = 1, h = 1, w = 1;
  bool operator==(const ImageShape& o) const { return c == o.c && h == o.h && w == o.w; }
};

// Per-sample parameters of one op: name -> tensor [B, ...] (see docs/augment.md).
using OpParams = std::map<std::string, at::Tensor>;

class Op {
 public:
  virtual ~Op() = default;
  // The recipe key ("rotate") and a one-line description with every setting.
  virtual std::string name() const = 0;
  virtual std::string describe() const = 0;
  // Shape of the output for an input shape (most ops keep it).
  virtual ImageShape out_shape(const ImageShape& in) const { return in; }
  // Draws parameters for `batch` images of shape `in` from the CPU generator `gen`; the tensors
  // are placed on `device`.
  virtual OpParams sample(int64_t batch, const ImageShape& in, at::Generator& gen, c10::Device device) const = 0;
  // The deterministic op. x: float [B,C,H,W] in [0,1] on any device; params from sample() (or
  // selected/concatenated from such) for the same B. Returns float [B,C,H',W'] in [0,1].
  virtual at::Tensor apply(const at::Tensor& x, const OpParams& params) const = 0;

  // ---- affine fusion (used by Pipeline) ----
  // True when, for inputs of this shape, the op is an affine map that keeps the size, so that
  // consecutive such ops can be composed into one resampling.
  virtual bool fusable(const ImageShape& in) const { return false; }
  // The op as inverse maps (output -> input, centred pixel coordinates), float64 [B,3,3];
  // identity for samples where it does not apply. Only called when fusable(in).
  virtual at::Tensor inverse_matrix(const OpParams& params, const ImageShape& in) const;
  // True when apply() itself resamples (rotate, scale, ...): a group of fusable ops is only
  // worth one grid_sample when it contains one; flips and integer crops alone stay exact.
  virtual bool resamples() const { return false; }
  // Interpolation and fill the op needs when fused; nullopt = no constraint (flips need
  // neither, integer crops only their fill). Only ops that agree are fused together.
  virtual c10::optional<Interp> interp() const { return c10::nullopt; }
  virtual c10::optional<double> fill() const { return c10::nullopt; }
};

using OpPtr = std::shared_ptr<const Op>;

// Builds an op from its recipe key and parameter map (a YAML map, or null for the defaults).
// `where` prefixes error messages ("augment[2].rotate"). Throws kdaug::Error for an unknown op
// (listing the known ones), an unknown parameter (listing the known ones) or a bad value.
OpPtr make_op(const std::string& name, const YAML::Node& params, const std::string& where);

// Every op name make_op accepts.
std::vector<std::string> op_names();

}  // namespace kdaug::augment
