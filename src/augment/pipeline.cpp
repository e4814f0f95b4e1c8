#include "kdaug/augment/pipeline.h"

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace kdaug::augment {

// ---- PipelineParams -------------------------------------------------------------------------------

int64_t PipelineParams::batch_size() const {
  for (const auto& op : ops) {
    for (const auto& kv : op) return kv.second.size(0);
  }
  return 0;
}

PipelineParams PipelineParams::select(const at::Tensor& idx) const {
  PipelineParams out;
  for (const auto& op : ops) {
    OpParams o;
    for (const auto& kv : op) o[kv.first] = kv.second.index_select(0, idx.to(kv.second.device(), at::kLong));
    out.ops.push_back(std::move(o));
  }
  return out;
}

PipelineParams PipelineParams::cat(const std::vector<PipelineParams>& parts) {
  PipelineParams out;
  if (parts.empty()) return out;
  const size_t n = parts[0].ops.size();
  for (const auto& p : parts) {
    TORCH_CHECK(p.ops.size() == n, "PipelineParams::cat: parts come from different pipelines (", p.ops.size(),
                " vs ", n, " ops)");
  }
  for (size_t i = 0; i < n; ++i) {
    OpParams o;
    for (const auto& kv : parts[0].ops[i]) {
      std::vector<at::Tensor> ts;
      for (const auto& p : parts) {
        auto it = p.ops[i].find(kv.first);
        TORCH_CHECK(it != p.ops[i].end(), "PipelineParams::cat: op ", i, " lacks '", kv.first, "' in one part");
        ts.push_back(it->second);
      }
      o[kv.first] = at::cat(ts, 0);
    }
    out.ops.push_back(std::move(o));
  }
  return out;
}

PipelineParams PipelineParams::to(c10::Device device) const {
  PipelineParams out;
  for (const auto& op : ops) {
    OpParams o;
    for (const auto& kv : op) o[kv.first] = kv.second.to(device);
    out.ops.push_back(std::move(o));
  }
  return out;
}

// ---- images --------------------------------------------------------------------------------------

at::Tensor to_float_image(const at::Tensor& x) {
  if (x.scalar_type() == at::kByte) return x.to(at::kFloat).div_(255);
  KDAUG_CHECK(x.is_floating_point(), "augment: images must be uint8 or float, got ", x.scalar_type());
  return x;
}

at::Tensor to_uint8_image(const at::Tensor& x) { return x.mul(255).round_().clamp_(0, 255).to(at::kByte); }

// ---- Pipeline ------------------------------------------------------------------------------------

Pipeline::Pipeline(std::vector<OpPtr> ops) : ops_(std::move(ops)) {
  for (const auto& op : ops_) TORCH_CHECK(op != nullptr, "Pipeline: null op");
}

Pipeline Pipeline::from_yaml(const YAML::Node& list, const std::string& where) {
  if (!list || list.IsNull()) return Pipeline();
  KDAUG_CHECK(list.IsSequence(), where, ": expected a list of ops like [{hflip: {p: 0.5}}]");
  std::vector<OpPtr> ops;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (item.IsScalar()) {  // a bare name takes every default: "- hflip"
      const auto name = item.as<std::string>();
      ops.push_back(make_op(name, YAML::Node(), at + "." + name));
      continue;
    }
    KDAUG_CHECK(item.IsMap() && item.size() == 1, at,
                ": expected one op as a one-key map like {rotate: {degrees: 10}}, got ", item.size(), " keys");
    const auto name = item.begin()->first.as<std::string>();
    ops.push_back(make_op(name, item.begin()->second, at + "." + name));
  }
  return Pipeline(std::move(ops));
}

ImageShape Pipeline::out_shape(const ImageShape& in) const {
  ImageShape s = in;
  for (const auto& op : ops_) s = op->out_shape(s);
  return s;
}

std::string Pipeline::describe() const {
  std::string s;
  for (const auto& op : ops_) s += op->describe() + "\n";
  return s.empty() ? "(no ops)\n" : s;
}

PipelineParams Pipeline::sample_params(int64_t batch, const ImageShape& in, at::Generator& gen,
                                       c10::Device device) const {
  KDAUG_CHECK(batch >= 0, "augment: batch size must be >= 0, got ", batch);
  PipelineParams p;
  ImageShape s = in;
  for (const auto& op : ops_) {
    p.ops.push_back(op->sample(batch, s, gen, device));
    s = op->out_shape(s);
  }
  return p;
}

PipelineParams Pipeline::sample_params_from_seeds(const at::Tensor& seeds, const ImageShape& in,
                                                  c10::Device device) const {
  KDAUG_CHECK(seeds.dim() == 1, "augment: seeds must be a 1-D tensor, got shape ", seeds.sizes());
  auto s = seeds.to(at::kCPU, at::kLong).contiguous();
  const auto* v = s.data_ptr<int64_t>();
  std::vector<PipelineParams> parts;
  parts.reserve(s.numel());
  for (int64_t i = 0; i < s.numel(); ++i) {
    auto gen = make_generator(static_cast<uint64_t>(v[i]));
    parts.push_back(sample_params(1, in, gen, device));
  }
  if (parts.empty()) {
    auto gen = make_generator(0);
    return sample_params(0, in, gen, device);
  }
  return PipelineParams::cat(parts);
}

at::Tensor Pipeline::operator()(const at::Tensor& x, at::Generator& gen, PipelineParams* used) const {
  KDAUG_CHECK(x.dim() == 4, "augment: images must be [B,C,H,W], got shape ", x.sizes());
  auto p = sample_params(x.size(0), {x.size(1), x.size(2), x.size(3)}, gen, x.device());
  auto y = replay(x, p);
  if (used != nullptr) *used = std::move(p);
  return y;
}

at::Tensor Pipeline::replay(const at::Tensor& x_in, const PipelineParams& params) const {
  KDAUG_CHECK(x_in.dim() == 4, "augment: images must be [B,C,H,W], got shape ", x_in.sizes());
  KDAUG_CHECK(params.ops.size() == ops_.size(), "augment: parameters for ", params.ops.size(),
              " ops given to a pipeline of ", ops_.size(), " ops");
  if (ops_.empty()) return x_in;
  KDAUG_CHECK(params.batch_size() == x_in.size(0), "augment: parameters for ", params.batch_size(),
              " samples given for a batch of ", x_in.size(0));
  at::Tensor x = to_float_image(x_in);
  size_t i = 0;
  while (i < ops_.size()) {
    const ImageShape s{x.size(1), x.size(2), x.size(3)};
    // Longest run of fusable ops that agree on interpolation and fill.
    c10::optional<Interp> interp;
    c10::optional<double> fill;
    size_t j = i;
    bool resamples = false;
    while (j < ops_.size() && ops_[j]->fusable(s)) {
      auto oi = ops_[j]->interp();
      auto of = ops_[j]->fill();
      if ((oi && interp && *oi != *interp) || (of && fill && *of != *fill)) break;
      if (oi) interp = oi;
      if (of) fill = of;
      resamples = resamples || ops_[j]->resamples();
      ++j;
    }
    if (j - i >= 2 && resamples) {
      at::Tensor m = ops_[i]->inverse_matrix(params.ops[i], s).to(x.device(), at::kDouble);
      for (size_t k = i + 1; k < j; ++k) {
        m = m.bmm(ops_[k]->inverse_matrix(params.ops[k], s).to(x.device(), at::kDouble));
      }
      x = functional::warp_affine(x, m, interp.value_or(Interp::kBilinear), fill.value_or(0.0));
      i = j;
    } else {
      x = ops_[i]->apply(x, params.ops[i]);
      ++i;
    }
  }
  return x_in.scalar_type() == at::kByte ? to_uint8_image(x) : x;
}

AugmentConfig augment_config_from_yaml(const YAML::Node& root) {
  AugmentConfig c;
  if (!root || root.IsNull()) return c;
  KDAUG_CHECK(root.IsMap(), "recipe: expected a map at the top level");
  c.augment = Pipeline::from_yaml(root["augment"], "augment");
  c.perturb = Pipeline::from_yaml(root["perturb"], "perturb");
  return c;
}

}  // namespace kdaug::augment
