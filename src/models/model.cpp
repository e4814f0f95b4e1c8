#include "kdaug/models/model.h"
#include "kdaug/models/layout.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include <set>
#include <type_traits>

#include "kdaug/core/error.h"

namespace kdaug::models {

void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& p : m.parameters(true)) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  for (auto& b : m.buffers(true)) {
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

nlohmann::json ModelSpec::to_json() const {
  return nlohmann::json{{"name", name},
                        {"in_channels", in_channels},
                        {"height", height},
                        {"width", width},
                        {"num_classes", num_classes},
                        {"width_mult", width_mult},
                        {"mean", mean},
                        {"std", std}};
}

namespace {
// Reads j[key] into `out` when present; a wrong JSON type names the field and the value.
template <typename T>
void read_field(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_integral_v<T>) {
    KDAUG_CHECK(it->is_number_integer(), "model spec field '", key, "' must be an integer, got ", it->dump());
  }
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    KDAUG_FAIL("model spec field '", key, "' has the wrong type: ", it->dump());
  }
}
}  // namespace

// Only "name" is required; every other field falls back to ModelSpec's default. Unknown keys
// are rejected so that a typo ("num_class") is not silently ignored.
ModelSpec ModelSpec::from_json(const nlohmann::json& j) {
  KDAUG_CHECK(j.is_object(), "model spec must be a JSON object, got ", j.dump());
  static const std::set<std::string> known = {"name", "in_channels", "height", "width",
                                              "num_classes", "width_mult", "mean", "std"};
  for (const auto& item : j.items()) {
    if (known.count(item.key()) == 0) {
      KDAUG_FAIL("model spec has unknown field '", item.key(),
                 "' (known: name, in_channels, height, width, num_classes, width_mult, mean, std)");
    }
  }
  KDAUG_CHECK(j.contains("name"), "model spec is missing field 'name': ", j.dump());
  ModelSpec s;
  read_field(j, "name", s.name);
  read_field(j, "in_channels", s.in_channels);
  read_field(j, "height", s.height);
  read_field(j, "width", s.width);
  read_field(j, "num_classes", s.num_classes);
  read_field(j, "width_mult", s.width_mult);
  read_field(j, "mean", s.mean);
  read_field(j, "std", s.std);
  return s;
}

}  // namespace kdaug::models
