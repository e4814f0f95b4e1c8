// The frozen teacher's inference speed and agreement, configuration by configuration: fp32 with
// BatchNorm as trained, BatchNorm folded into the convolutions, then channels-last, then bf16
// autocast. Each row: images/s at the given batch (median of repeated calls on Fashion-MNIST
// test images) and, over the whole test set, top-1 agreement and the largest logit difference
// against the first (unfolded fp32) row, plus test accuracy.
//
// Usage: bench_teacher [--checkpoint models/fmnist-resnet56.pt] [--threads N] [--device cpu]
//                      [--batch 128] [--min-time 2] [--rounds 3] [--test-limit 0]
//                      [--json bench/results/teacher.json]
// The configurations are timed in turn, round after round (min-time each per round), and each
// rate is the median over rounds, so a change in the machine's load hits every row alike.
// Writes the JSON (with the command line) and prints a Markdown table.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/core/runtime.h"
#include "kdaug/data/dataset.h"
#include "kdaug/distill/teacher.h"
#include "bench_util.h"

namespace {

struct Options {
  std::string checkpoint = "models/fmnist-resnet56.pt";
  int threads = 0;
  std::string device = "cpu";
  int64_t batch = 128;
  double min_time = 2.0;
  int64_t test_limit = 0;
  int rounds = 3;
  std::string json = "bench/results/teacher.json";
};

Options parse(int argc, char** argv) {
  Options o;
  kdaug::bench::Options()
      .add("--checkpoint", &o.checkpoint)
      .add("--threads", &o.threads)
      .add("--device", &o.device)
      .add("--batch", &o.batch)
      .add("--min-time", &o.min_time)
      .add("--rounds", &o.rounds)
      .add("--test-limit", &o.test_limit)
      .add("--json", &o.json)
      .parse(argc, argv);
  KDAUG_CHECK(o.batch > 0, "--batch must be > 0, got ", o.batch);
  KDAUG_CHECK(o.min_time > 0, "--min-time must be positive, got ", o.min_time);
  KDAUG_CHECK(o.rounds > 0, "--rounds must be > 0, got ", o.rounds);
  return o;
}

struct Config {
  std::string name;
  kdaug::distill::TeacherOptions options;
};

std::vector<Config> configs() {
  std::vector<Config> c(4);
  c[0] = {"fp32, BatchNorm as trained", {}};
  c[0].options.fold_bn = false;
  c[1] = {"fp32, BatchNorm folded", {}};
  c[2] = {"fp32, folded, channels-last", {}};
  c[2].options.channels_last = true;
  c[3] = {"bf16, folded, channels-last", {}};
  c[3].options.precision = "bf16";
  c[3].options.channels_last = true;
  return c;
}

// The teacher's logits for every image of `x` (float [N, C, H, W] in [0, 1]), on the CPU.
at::Tensor all_logits(const kdaug::distill::Teacher& t, const at::Tensor& x, const c10::Device& d) {
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += 500) out.push_back(t(x.narrow(0, i, std::min<int64_t>(500, x.size(0) - i)).to(d)).cpu());
  return at::cat(out);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const int threads = kdaug::configure_threads(o.threads);
    const auto device = kdaug::select_device(o.device);
    kdaug::data::DataOptions dopt;
    dopt.val_size = 0;
    dopt.test_limit = o.test_limit;
    const auto test = kdaug::data::load_splits(dopt).test;
    const auto x = test.images.to(at::kFloat).div_(255.0);
    KDAUG_CHECK(x.size(0) >= o.batch, "the test set has ", x.size(0), " images, fewer than --batch ", o.batch);
    const auto batch = x.narrow(0, 0, o.batch).to(device);
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };

    nlohmann::json rows = nlohmann::json::array();
    std::ostringstream md;
    md << "| teacher configuration | images/s (batch " << o.batch << ") | speed-up | top-1 agreement with row 1 | "
       << "max abs logit difference | test acc |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
    const auto cfgs = configs();
    std::vector<kdaug::distill::Teacher> teachers;
    for (const auto& c : cfgs) teachers.push_back(kdaug::distill::Teacher::load(o.checkpoint, device, c.options));
    std::vector<std::vector<double>> rates(teachers.size());
    for (int r = 0; r < o.rounds; ++r) {
      for (size_t i = 0; i < teachers.size(); ++i) {
        const auto t = kdaug::bench::time_median([&] { teachers[i](batch); }, o.min_time, 2, sync);
        rates[i].push_back(static_cast<double>(o.batch) / t.seconds);
      }
    }
    at::Tensor reference;
    double base_rate = 0;
    for (size_t i = 0; i < teachers.size(); ++i) {
      const auto& c = cfgs[i];
      const auto& teacher = teachers[i];
      const double rate = kdaug::bench::median(rates[i]);
      const auto logits = all_logits(teacher, x, device);
      if (!reference.defined()) {
        reference = logits;
        base_rate = rate;
      }
      const double agree = logits.argmax(1).eq(reference.argmax(1)).to(at::kDouble).mean().item<double>();
      const double diff = (logits - reference).abs().max().item<double>();
      const double acc = logits.argmax(1).eq(test.labels).to(at::kDouble).mean().item<double>();
      rows.push_back({{"config", c.name},
                      {"precision", c.options.precision},
                      {"channels_last", c.options.channels_last},
                      {"fold_bn", c.options.fold_bn},
                      {"folded_batch_norms", teacher.folded_batch_norms()},
                      {"images_per_second", rate},
                      {"images_per_second_rounds", rates[i]},
                      {"speedup", rate / base_rate},
                      {"top1_agreement", agree},
                      {"max_abs_logit_diff", diff},
                      {"test_acc", acc}});
      char buf[256];
      std::snprintf(buf, sizeof(buf), "| %s | %.0f | %.2fx | %.4f | %.2g | %.4f |\n", c.name.c_str(), rate,
                    rate / base_rate, agree, diff, acc);
      md << buf;
    }
    nlohmann::json j = {{"benchmark", "teacher"},
                        {"command", kdaug::bench::command_line(argc, argv)},
                        {"checkpoint", o.checkpoint},
                        {"threads", threads},
                        {"device", device.str()},
                        {"batch", o.batch},
                        {"rounds", o.rounds},
                        {"test_images", x.size(0)},
                        {"runtime", kdaug::runtime_summary()},
                        {"results", rows}};
    kdaug::write_text_atomic(o.json, j.dump(2) + "\n");
    std::cout << md.str() << "(" << threads << " threads, " << device.str() << ")\nwritten: " << o.json << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_teacher: error: " << e.what() << "\n";
    return 1;
  }
}
