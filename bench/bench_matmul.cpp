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

namespace {

struct Options {
  int threads = 0;                               // 0 = all cores
  double min_time = 0.5;                         // seconds of timed calls per entry
  std::string json = "bench/results/matmul.json";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      KDAUG_CHECK(i + 1 < argc, "option ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads = std::stoi(value());
    } else if (a == "--min-time") {
      o.min_time = std::stod(value());
    } else if (a == "--json") {
      o.json = value();
    } else {
      KDAUG_FAIL("unknown option '", a, "' (known: --threads, --min-time, --json)");
    }
  }
  KDAUG_CHECK(o.min_time > 0, "--min-time must be positive, got ", o.min_time);
  return o;
}

// Median seconds per call over repeated batches of calls lasting at least min_time in all.
double time_call(const std::function<void()>& f, double min_time) {
  f();  // warm-up (allocations, kernel selection)
  std::vector<double> per_call;
  double total = 0;
  while (total < min_time || per_call.size() < 5) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    per_call.push_back(dt);
    total += dt;
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
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
        const double s = time_call([&] { c = at::mm(a, b); }, o.min_time);
        const double gflops = 2.0 * static_cast<double>(n * n * n) / s / 1e9;
        const std::string name = dtype == at::kFloat ? "fp32" : "bf16";
        (dtype == at::kFloat ? peak_fp32 : peak_bf16) = std::max(dtype == at::kFloat ? peak_fp32 : peak_bf16, gflops);
        results.push_back({{"dtype", name}, {"n", n}, {"seconds", s}, {"gflops", gflops}});
        md << "| " << name << " | " << n << " | " << s * 1e3 << " | " << gflops << " |\n";
      }
    }
    std::string cmd;
    for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
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
