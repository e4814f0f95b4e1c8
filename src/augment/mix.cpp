#include "kdaug/augment/mix.h"

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include "kdaug/augment/functional.h"
#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"

namespace kdaug::augment {

Mixer::Mixer(MixKind kind, double alpha, double p) : kind_(kind), alpha_(alpha), p_(p) {
  KDAUG_CHECK(alpha > 0 && std::isfinite(alpha), describe(), ": alpha must be > 0, got ", alpha);
  KDAUG_CHECK(p >= 0 && p <= 1, describe(), ": p must be in [0, 1], got ", p);
}

Mixer Mixer::from_yaml(const YAML::Node& item, const std::string& where) {
  KDAUG_CHECK(item.IsMap() && item.size() == 1, where, ": expected {mixup: {...}} or {cutmix: {...}}");
  const auto name = item.begin()->first.as<std::string>();
  KDAUG_CHECK(name == "mixup" || name == "cutmix", where, ": unknown mixing op '", name, "' (known: cutmix, mixup)");
  const YAML::Node params = item.begin()->second;
  double alpha = 1.0, p = 1.0;
  const std::string at = where + "." + name;
  if (params && !params.IsNull()) {
    KDAUG_CHECK(params.IsMap(), at, ": parameters must be a map like {alpha: 1.0}");
    for (const auto& kv : params) {
      const auto key = kv.first.as<std::string>();
      double v = 0;
      try {
        v = kv.second.as<double>();
      } catch (const YAML::Exception&) {
        KDAUG_FAIL(at, ".", key, ": expected a number");
      }
      if (key == "alpha") {
        KDAUG_CHECK(v > 0, at, ".alpha: must be > 0, got ", v);
        alpha = v;
      } else if (key == "p") {
        KDAUG_CHECK(v >= 0 && v <= 1, at, ".p: must be in [0, 1], got ", v);
        p = v;
      } else {
        KDAUG_FAIL(at, ": unknown parameter '", key, "' (known: alpha, p)");
      }
    }
  }
  return Mixer(name == "mixup" ? MixKind::kMixup : MixKind::kCutmix, alpha, p);
}

std::string Mixer::describe() const {
  return std::string(kind_ == MixKind::kMixup ? "mixup" : "cutmix") + "(alpha=" + std::to_string(alpha_) +
         ", p=" + std::to_string(p_) + ")";
}

MixParams Mixer::sample(int64_t b, int64_t h, int64_t w, at::Generator& gen, c10::Device device) const {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  MixParams m;
  m.perm = at::randperm(b, gen, at::TensorOptions().dtype(at::kLong));
  auto g1 = at::_standard_gamma(at::full({b}, alpha_, o), gen);
  auto g2 = at::_standard_gamma(at::full({b}, alpha_, o), gen);
  auto lam = g1 / (g1 + g2);
  auto apply = at::rand({b}, gen, o) < p_;
  lam = at::where(apply, lam, at::ones_like(lam));
  if (kind_ == MixKind::kCutmix) {
    auto r = (1 - lam).sqrt();
    auto ch = (r * h).floor(), cw = (r * w).floor();
    auto cy = (at::rand({b}, gen, o) * h).floor(), cx = (at::rand({b}, gen, o) * w).floor();
    auto y1 = (cy - (ch / 2).floor()).clamp(0, h), y2 = (cy + (ch / 2).floor()).clamp(0, h);
    auto x1 = (cx - (cw / 2).floor()).clamp(0, w), x2 = (cx + (cw / 2).floor()).clamp(0, w);
    auto box = at::stack({y1, x1, y2 - y1, x2 - x1}, 1).to(at::kLong);
    box = box * apply.unsqueeze(1);
    // The target weight is the area actually kept, after clipping at the border.
    lam = 1 - (box.select(1, 2) * box.select(1, 3)).to(at::kDouble) / double(h * w);
    m.box = box.to(device);
  }
  m.lam = lam.to(device, at::kFloat);
  m.perm = m.perm.to(device);
  return m;
}

MixResult Mixer::apply(const at::Tensor& images, const at::Tensor& targets, const MixParams& p) const {
  KDAUG_CHECK(images.dim() == 4 && (images.is_floating_point() || images.scalar_type() == at::kByte),
              "mix: images must be float or uint8 [B,C,H,W], got ", images.scalar_type(), " ", images.sizes());
  const auto x = to_float_image(images);
  KDAUG_CHECK(targets.dim() == 2 && targets.size(0) == x.size(0), "mix: targets must be [", x.size(0),
              ",K], got ", targets.sizes());
  KDAUG_CHECK(p.perm.defined() && p.perm.numel() == x.size(0), "mix: parameters are for another batch size");
  MixResult r;
  r.params = p;
  auto perm = p.perm.to(x.device());
  auto lam = p.lam.to(x.device(), x.scalar_type());
  auto other = x.index_select(0, perm);
  if (kind_ == MixKind::kMixup) {
    auto l = lam.view({-1, 1, 1, 1});
    r.images = x * l + other * (1 - l);
  } else {
    TORCH_CHECK(p.box.defined(), "cutmix: parameters lack the box");
    auto marker = functional::erase(at::zeros_like(x.narrow(1, 0, 1)), p.box, 1.0) > 0.5;
    r.images = at::where(marker, other, x);
  }
  auto t = targets.to(x.scalar_type());
  auto lt = lam.view({-1, 1});
  r.targets = t * lt + t.index_select(0, perm) * (1 - lt);
  return r;
}

MixResult Mixer::operator()(const at::Tensor& x, const at::Tensor& targets, at::Generator& gen) const {
  KDAUG_CHECK(x.dim() == 4, "mix: images must be [B,C,H,W], got ", x.sizes());
  return apply(x, targets, sample(x.size(0), x.size(2), x.size(3), gen, x.device()));
}

at::Tensor one_hot_targets(const at::Tensor& labels, int64_t num_classes) {
  KDAUG_CHECK(num_classes > 0, "one_hot_targets: num_classes must be > 0, got ", num_classes);
  return at::one_hot(labels.to(at::kLong), num_classes).to(at::kFloat);
}

}  // namespace kdaug::augment
