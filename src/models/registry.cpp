#include "kdaug/models/registry.h"

#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <sstream>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "layers.h"

namespace kdaug::models {
namespace {

enum class Family { kResNet, kVgg, kMobileNetV2, kWrn };

struct ParsedName {
  Family family;
  int64_t depth = 0;
  int64_t widen = 0;
};

std::string known_list() {
  std::ostringstream ss;
  const auto names = model_names();
  for (size_t i = 0; i < names.size(); ++i) ss << (i ? ", " : "") << names[i];
  ss << " (resnetD for any D = 6n+2, wrn_D_K for any D = 6n+4 and K >= 1)";
  return ss.str();
}

// A non-empty string of at most 6 digits (longer depths are nonsense and could overflow).
std::optional<int64_t> parse_count(const std::string& s) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoll(s);
}

ParsedName parse_name(const std::string& name) {
  const auto starts = [&](const std::string& p) { return name.rfind(p, 0) == 0; };
  if (name == "mobilenetv2") return {Family::kMobileNetV2};
  if (starts("resnet")) {
    if (auto d = parse_count(name.substr(6))) {
      KDAUG_CHECK(*d >= 8 && (*d - 2) % 6 == 0, "unknown model '", name,
                  "': resnet depth must be 6n+2 >= 8 (8, 14, 20, 32, 44, 56, 110, ...), got ", *d,
                  "; known: ", known_list());
      return {Family::kResNet, *d};
    }
  }
  if (starts("vgg") && name.size() > 6 && name.compare(name.size() - 3, 3, "_bn") == 0) {
    if (auto d = parse_count(name.substr(3, name.size() - 6))) {
      KDAUG_CHECK(*d == 11 || *d == 13 || *d == 16 || *d == 19, "unknown model '", name,
                  "': vgg depth must be 11, 13, 16 or 19, got ", *d, "; known: ", known_list());
      return {Family::kVgg, *d};
    }
  }
  if (starts("wrn_")) {
    const auto sep = name.find('_', 4);
    if (sep != std::string::npos) {
      auto d = parse_count(name.substr(4, sep - 4));
      auto k = parse_count(name.substr(sep + 1));
      if (d && k) {
        KDAUG_CHECK(*d >= 10 && (*d - 4) % 6 == 0, "unknown model '", name,
                    "': wrn depth must be 6n+4 >= 10 (10, 16, 22, 28, 40, ...), got ", *d, "; known: ",
                    known_list());
        KDAUG_CHECK(*k >= 1, "unknown model '", name, "': wrn widen factor must be >= 1, got ", *k);
        return {Family::kWrn, *d, *k};
      }
    }
  }
  KDAUG_FAIL("unknown model '", name, "'; known: ", known_list());
}

}  // namespace

std::vector<std::string> model_names() {
  return {"resnet8",  "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
          "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "mobilenetv2", "wrn_16_2", "wrn_16_4",
          "wrn_28_10", "wrn_40_2"};
}

void check_model_spec(const ModelSpec& spec) {
  const ParsedName parsed = parse_name(spec.name);
  KDAUG_CHECK(spec.in_channels > 0, "model ", spec.name, ": in_channels must be > 0, got ", spec.in_channels);
  KDAUG_CHECK(spec.num_classes >= 2, "model ", spec.name, ": num_classes must be >= 2, got ", spec.num_classes);
  KDAUG_CHECK(spec.height >= 8, "model ", spec.name, ": height must be >= 8, got ", spec.height);
  KDAUG_CHECK(spec.width >= 8, "model ", spec.name, ": width must be >= 8, got ", spec.width);
  KDAUG_CHECK(std::isfinite(spec.width_mult) && spec.width_mult > 0, "model ", spec.name,
              ": width_mult must be finite and > 0, got ", spec.width_mult);
  if (parsed.family == Family::kResNet || parsed.family == Family::kWrn) {
    KDAUG_CHECK(spec.width_mult == 1.0, "model ", spec.name,
                ": width_mult applies to vgg*_bn and mobilenetv2 only and must be 1 here, got ",
                spec.width_mult);
  }
  KDAUG_CHECK(static_cast<int64_t>(spec.mean.size()) == spec.in_channels, "model ", spec.name, ": mean has ",
              spec.mean.size(), " entries but in_channels is ", spec.in_channels);
  KDAUG_CHECK(static_cast<int64_t>(spec.std.size()) == spec.in_channels, "model ", spec.name, ": std has ",
              spec.std.size(), " entries but in_channels is ", spec.in_channels);
  for (size_t c = 0; c < spec.mean.size(); ++c) {
    KDAUG_CHECK(std::isfinite(spec.mean[c]), "model ", spec.name, ": mean[", c, "] must be finite, got ",
                spec.mean[c]);
    KDAUG_CHECK(std::isfinite(spec.std[c]) && spec.std[c] > 0, "model ", spec.name, ": std[", c,
                "] must be finite and > 0, got ", spec.std[c]);
  }
}

Classifier make_model(const ModelSpec& spec, uint64_t seed) {
  check_model_spec(spec);
  const ParsedName p = parse_name(spec.name);
  std::shared_ptr<detail::ZooModel> model;
  switch (p.family) {
    case Family::kResNet: model = detail::build_resnet(spec, p.depth); break;
    case Family::kVgg: model = detail::build_vgg(spec, p.depth); break;
    case Family::kMobileNetV2: model = detail::build_mobilenetv2(spec); break;
    case Family::kWrn: model = detail::build_wrn(spec, p.depth, p.widen); break;
  }
  at::Generator gen = make_generator(seed);
  detail::init_parameters(*model, gen);
  return model;
}

ModelCost model_cost(const ModelSpec& spec) {
  Classifier model = make_model(spec, 0);
  model->eval();
  ModelCost cost;
  cost.params = count_parameters(*model);
  {
    torch::NoGradGuard no_grad;
    detail::MacCounter counter(&cost.macs);
    model->forward(torch::zeros({1, spec.in_channels, spec.height, spec.width}));
  }
  return cost;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  // Every parameter, trainable or not: a frozen teacher has as many as when it was trained.
  for (const auto& p : module.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

}  // namespace kdaug::models
