#include "kdaug/eval/cost.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>


#include "detail.h"
#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/models/registry.h"

namespace kdaug::eval {
namespace {

void synchronize(const c10::Device& device) {
  // A .item() forces the queue to drain on any device without CUDA-specific headers.
  if (device.type() != c10::kCPU) at::zeros({1}, at::TensorOptions().device(device)).sum().item<float>();
}

}  // namespace

CostReport measure_cost(models::ClassifierImpl& model, const CostOptions& o) {
  KDAUG_CHECK(o.warmup >= 0, "cost: warmup must be >= 0, got ", o.warmup);
  KDAUG_CHECK(o.repeats >= 1, "cost: repeats must be >= 1, got ", o.repeats);
  KDAUG_CHECK(o.max_seconds > 0, "cost: max_seconds must be > 0, got ", o.max_seconds);
  for (int64_t b : o.batch_sizes) KDAUG_CHECK(b > 0, "cost: batch sizes must be > 0, got ", b);
  CostReport r;
  r.params = models::count_parameters(model);
  try {
    r.macs = models::model_cost(model.spec()).macs;
  } catch (const kdaug::Error&) {
    r.macs = -1;  // not a zoo model (a custom or test classifier): MACs unknown
  }
  if (!o.checkpoint.empty()) {
    require_readable(o.checkpoint, "checkpoint");
    r.checkpoint_bytes = static_cast<int64_t>(std::filesystem::file_size(o.checkpoint));
  }
  const auto device = detail::model_device(model);
  r.device = device.str();
  r.threads = at::get_num_threads();
  const auto& s = model.spec();
  detail::EvalModeGuard mode(model);
  c10::InferenceMode guard;
  using clock = std::chrono::steady_clock;
  for (int64_t b : o.batch_sizes) {
    const auto x = at::zeros({b, s.in_channels, s.height, s.width}, at::TensorOptions().device(device));
    for (int i = 0; i < o.warmup; ++i) model.forward(x);
    synchronize(device);
    std::vector<double> ms;
    const auto start = clock::now();
    for (int i = 0; i < o.repeats; ++i) {
      const auto t0 = clock::now();
      auto y = model.forward(x);
      synchronize(device);
      ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
      if (std::chrono::duration<double>(clock::now() - start).count() > o.max_seconds) break;
    }
    std::sort(ms.begin(), ms.end());
    const size_t k = ms.size();
    LatencyResult lr;
    lr.batch_size = b;
    lr.runs = static_cast<int>(k);
    lr.median_ms = k % 2 == 1 ? ms[k / 2] : 0.5 * (ms[k / 2 - 1] + ms[k / 2]);
    lr.per_image_ms = lr.median_ms / static_cast<double>(b);
    lr.images_per_s = lr.median_ms > 0 ? 1000.0 * static_cast<double>(b) / lr.median_ms : 0;
    r.latency.push_back(lr);
  }
  return r;
}

nlohmann::json to_json(const CostReport& r) {
  auto opt = [](int64_t v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  auto lat = nlohmann::json::array();
  for (const auto& l : r.latency) {
    lat.push_back({{"batch_size", l.batch_size},
                   {"median_ms", l.median_ms},
                   {"per_image_ms", l.per_image_ms},
                   {"images_per_s", l.images_per_s},
                   {"runs", l.runs}});
  }
  return {{"params", r.params},       {"macs", opt(r.macs)}, {"checkpoint_bytes", opt(r.checkpoint_bytes)},
          {"threads", r.threads},     {"device", r.device},  {"latency", lat}};
}

}  // namespace kdaug::eval
