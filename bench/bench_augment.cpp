// Augmentation throughput: images/s of each op of the canonical fmnist-synergy pipeline
// (BENCHMARK.md) and of the whole pipeline, on batches of 128 images of 1x28x28 (Fashion-MNIST)
// and 3x32x32 (CIFAR). Every timed call includes drawing the parameters, as in training.
// "augment fused" is the pipeline as training runs it (crop, rotate, scale and flip composed into
// one grid_sample); "augment op by op" applies the same ops one after the other, to show what the
// fusion saves. A few other ops (policies, blur, mixing) are timed for reference.
//
// Usage: bench_augment [--threads N] [--device auto|cpu|cuda] [--batch 128] [--min-time 0.5]
//                      [--json bench/results/augment.json]
// Writes the JSON (with the command line) and prints a Markdown table.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "kdaug/augment/mix.h"
#include "kdaug/augment/pipeline.h"
#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/core/rng.h"
#include "kdaug/core/runtime.h"
#include "bench_util.h"

namespace ka = kdaug::augment;

namespace {

struct Options {
  int threads = 0;                                   // 0 = all cores
  std::string device = "auto";                       // auto | cpu | cuda
  int64_t batch = 128;                               // images per call
  double min_time = 0.5;                             // seconds of timed calls per entry (at least 5 calls)
  std::string json = "bench/results/augment.json";  // where to write the results
};

Options parse(int argc, char** argv) {
  Options o;
  kdaug::bench::Options()
      .add("--threads", &o.threads)
      .add("--device", &o.device)
      .add("--batch", &o.batch)
      .add("--min-time", &o.min_time)
      .add("--json", &o.json)
      .parse(argc, argv);
  KDAUG_CHECK(o.batch > 0, "--batch must be > 0, got ", o.batch);
  return o;
}

void sync(const c10::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Median seconds per call of f after two warm-up calls, and the number of timed calls.
std::pair<double, int> time_it(const std::function<at::Tensor()>& f, const c10::Device& d, double min_time) {
  const auto t = kdaug::bench::time_median([&] { f(); }, min_time, 2, [&] { sync(d); });
  return {t.seconds, t.calls};
}

ka::Pipeline pipeline(const std::string& yaml) { return ka::Pipeline::from_yaml(YAML::Load(yaml), "bench"); }

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto o = parse(argc, argv);
    const int threads = kdaug::configure_threads(o.threads);
    const auto device = kdaug::select_device(o.device);
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

    const std::string augment =
        "[{crop: {padding: 2}}, {rotate: {degrees: 10}}, {scale: {min: 0.9, max: 1.1}}, {hflip: {p: 0.5}}]";
    const std::string perturb = "[{gaussian_noise: {sigma: 0.1}}]";
    const auto aug = pipeline(augment), per = pipeline(perturb);
    // The same ops, each its own pipeline: no fusion.
    std::vector<ka::Pipeline> singles;
    for (const auto& op : aug.ops()) singles.push_back(ka::Pipeline({op}));

    struct Entry {
      std::string name;
      std::function<at::Tensor(const at::Tensor&, at::Generator&)> run;
    };
    std::vector<Entry> entries;
    const std::vector<std::pair<std::string, std::string>> ops = {
        {"crop (padding 2)", "[{crop: {padding: 2}}]"},
        {"rotate (10 deg)", "[{rotate: {degrees: 10}}]"},
        {"scale (0.9-1.1)", "[{scale: {min: 0.9, max: 1.1}}]"},
        {"hflip (p 0.5)", "[{hflip: {p: 0.5}}]"},
        {"gaussian_noise (sigma 0.1)", perturb},
    };
    for (const auto& [name, y] : ops) {
      auto p = pipeline(y);
      entries.push_back({name, [p](const at::Tensor& x, at::Generator& g) { return p(x, g); }});
    }
    entries.push_back({"augment fused (crop+rotate+scale+hflip)", [aug](const at::Tensor& x, at::Generator& g) {
                         return aug(x, g);
                       }});
    entries.push_back({"augment op by op (no fusion)", [singles](const at::Tensor& x, at::Generator& g) {
                         at::Tensor y = x;
                         for (const auto& p : singles) y = p(y, g);
                         return y;
                       }});
    entries.push_back({"augment + perturb (x' and x'')", [aug, per](const at::Tensor& x, at::Generator& g) {
                         return per(aug(x, g), g);
                       }});
    entries.push_back({"uint8 in: augment + perturb", [aug, per](const at::Tensor& x, at::Generator& g) {
                         return per(aug(ka::to_uint8_image(x), g), g);
                       }});
    const std::vector<std::pair<std::string, std::string>> others = {
        {"randaugment (n 2, m 9)", "[{randaugment: {n: 2, m: 9}}]"},
        {"trivial_augment", "[{trivial_augment: {}}]"},
        {"gaussian_blur (k 3)", "[{gaussian_blur: {kernel_size: 3}}]"},
        {"erase (p 0.5)", "[{erase: {}}]"},
    };
    for (const auto& [name, y] : others) {
      auto p = pipeline(y);
      entries.push_back({name, [p](const at::Tensor& x, at::Generator& g) { return p(x, g); }});
    }
    const ka::Mixer mixup(ka::MixKind::kMixup, 0.2), cutmix(ka::MixKind::kCutmix, 1.0);
    entries.push_back({"mixup (alpha 0.2)", [mixup](const at::Tensor& x, at::Generator& g) {
                         return mixup(x, ka::one_hot_targets(at::arange(x.size(0), x.options().dtype(at::kLong)) % 10, 10), g).images;
                       }});
    entries.push_back({"cutmix (alpha 1)", [cutmix](const at::Tensor& x, at::Generator& g) {
                         return cutmix(x, ka::one_hot_targets(at::arange(x.size(0), x.options().dtype(at::kLong)) % 10, 10), g).images;
                       }});

    const std::vector<ka::ImageShape> shapes = {{1, 28, 28}, {3, 32, 32}};
    nlohmann::json results = nlohmann::json::array();
    std::ostringstream table;
    table << "| op | " << o.batch << "x1x28x28 images/s | " << o.batch << "x3x32x32 images/s |\n| --- | ---: | ---: |\n";
    std::vector<std::vector<double>> ips(entries.size(), std::vector<double>(shapes.size()));
    for (size_t s = 0; s < shapes.size(); ++s) {
      const auto& sh = shapes[s];
      auto data_gen = kdaug::make_generator(1);
      auto x = at::rand({o.batch, sh.c, sh.h, sh.w}, data_gen).to(device);
      for (size_t e = 0; e < entries.size(); ++e) {
        auto gen = kdaug::make_generator(2);
        const auto [sec, calls] = time_it([&] { return entries[e].run(x, gen); }, device, o.min_time);
        ips[e][s] = o.batch / sec;
        results.push_back({{"op", entries[e].name},
                           {"shape", {o.batch, sh.c, sh.h, sh.w}},
                           {"seconds_per_batch", sec},
                           {"images_per_s", ips[e][s]},
                           {"calls", calls}});
        std::cerr << entries[e].name << " " << sh.c << "x" << sh.h << "x" << sh.w << ": " << std::fixed
                  << std::setprecision(0) << ips[e][s] << " images/s\n";
      }
    }
    for (size_t e = 0; e < entries.size(); ++e) {
      table << "| " << entries[e].name << " | " << std::fixed << std::setprecision(0) << ips[e][0] << " | "
            << ips[e][1] << " |\n";
    }
    nlohmann::json j = {{"benchmark", "augment"},
                        {"command", command},
                        {"device", device.str()},
                        {"threads", threads},
                        {"batch", o.batch},
                        {"min_time_s", o.min_time},
                        {"timing", "median seconds per call after 2 warm-up calls; each call draws its parameters"},
                        {"input", "random float images in [0,1] (uint8 row: converted in the call)"},
                        {"runtime", kdaug::runtime_summary()},
                        {"augment", augment},
                        {"perturb", perturb},
                        {"results", results}};
    kdaug::write_text_atomic(o.json, j.dump(2) + "\n");
    std::cout << "## Augmentation throughput (" << device.str() << ", " << threads << " threads, batch " << o.batch
              << ")\n\n"
              << table.str() << "\nCommand: `" << command << "`; JSON: " << o.json << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_augment: error: " << e.what() << "\n";
    return 1;
  }
}
