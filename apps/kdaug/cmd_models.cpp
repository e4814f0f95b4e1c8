// kdaug models: every model in the zoo with its parameter count and FLOPs at an input shape.
#include <ostream>

#include "kdaug/common.h"
#include "kdaug/models/registry.h"

namespace kdaug::cli {

int cmd_models(const ModelsArgs& a, const Io& io) {
  KDAUG_CHECK(a.channels > 0, "--channels must be > 0, got ", a.channels);
  KDAUG_CHECK(a.classes >= 2, "--classes must be >= 2, got ", a.classes);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& name : models::model_names()) {
    models::ModelSpec s;
    s.name = name;
    s.in_channels = a.channels;
    s.height = a.height;
    s.width = a.width;
    s.num_classes = a.classes;
    s.mean.assign(static_cast<size_t>(a.channels), 0.5);
    s.std.assign(static_cast<size_t>(a.channels), 0.25);
    const auto c = models::model_cost(s);
    rows.push_back({{"name", name}, {"params", c.params}, {"macs", c.macs}});
  }
  if (a.json) {
    io.out << nlohmann::json{{"input", {a.channels, a.height, a.width}}, {"classes", a.classes}, {"models", rows}}.dump(2)
           << "\n";
    return 0;
  }
  io.out << "Input " << a.channels << "x" << a.height << "x" << a.width << ", " << a.classes
         << " classes. FLOPs are multiply-adds of one forward pass on one image.\n\n"
         << "| model | parameters | MFLOPs |\n| --- | ---: | ---: |\n";
  for (const auto& r : rows) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "| %s | %lld | %.2f |\n", r["name"].get<std::string>().c_str(),
                  static_cast<long long>(r["params"].get<int64_t>()), r["macs"].get<int64_t>() / 1e6);
    io.out << buf;
  }
  return 0;
}

}  // namespace kdaug::cli
