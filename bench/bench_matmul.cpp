// The machine's matrix-multiply peak as LibTorch reaches it: GFLOP/s of square fp32 and bf16
// matrix products at a few sizes (2*n^3 flops each), the reference against which the end-to-end
// benchmark's achieved GFLOP/s are quoted.
//
// Usage: bench_matmul [--threads N] [--min-time 0.5] [--json bench/results/matmul.json]
// Writes the JSON (with the command line) and prints a Markdown table.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/core/rng.h"
#include "kdaug/core/runtime.h"
#include "bench_util.h"

namespace {

struct Options {
  int threads = 0;                               // 0 = all cores
  double min_time = 0.5;                         // seconds of timed calls per entry
  std::string json = "bench/results/matmul.json";
};

Options parse(int argc, char** argv) {
  Options o;
  kdaug::bench::Options().add("--threads", &o.threads).add("--min-time", &o.min_time).add("--json", &o.json).parse(argc, argv);
  KDAUG_CHECK(o.min_time > 0, "--min-time must be positive, got ", o.min_time);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const int threads = kdaug::configure_threads(o.threads);
    auto gen = kdaug::make_generator(0);
    nlohmann::json results = nlohmann::json::array();
    std::ostringstream md;
    md << "| dtype | n | ms per product | GFLOP/s |\n| --- | ---: | ---: | ---: |\n";
    double peak_fp32 = 0, peak_bf16 = 0;
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      for (int64_t n : {256, 512, 1024, 2048}) {
        const auto a = at::randn({n, n}, gen).to(dtype), b = at::randn({n, n}, gen).to(dtype);
        at::Tensor c;
        const double s = kdaug::bench::time_median([&] { c = at::mm(a, b); }, o.min_time).seconds;
        const double gflops = 2.0 * static_cast<double>(n * n * n) / s / 1e9;
        const std::string name = dtype == at::kFloat ? "fp32" : "bf16";
        (dtype == at::kFloat ? peak_fp32 : peak_bf16) = std::max(dtype == at::kFloat ? peak_fp32 : peak_bf16, gflops);
        results.push_back({{"dtype", name}, {"n", n}, {"seconds", s}, {"gflops", gflops}});
        md << "| " << name << " | " << n << " | " << s * 1e3 << " | " << gflops << " |\n";
      }
    }
    const std::string cmd = kdaug::bench::command_line(argc, argv);
    nlohmann::json j = {{"benchmark", "matmul"},       {"command", cmd},
                        {"threads", threads},          {"runtime", kdaug::runtime_summary()},
                        {"peak_gflops_fp32", peak_fp32}, {"peak_gflops_bf16", peak_bf16},
                        {"results", results}};
    kdaug::write_text_atomic(o.json, j.dump(2) + "\n");
    std::cout << md.str() << "peak: fp32 " << peak_fp32 << " GFLOP/s, bf16 " << peak_bf16 << " GFLOP/s (" << threads
              << " threads)\nwritten: " << o.json << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_matmul: error: " << e.what() << "\n";
    return 1;
  }
}
