#include "kdaug/core/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <sched.h>
#include <thread>

#include "kdaug/core/error.h"

namespace kdaug {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

bool make_this_thread_serial() {
  // ATen initialises each thread's OpenMP team size lazily, from the process-wide setting, on the
  // thread's first parallel query; do that first, or it would undo the setting below.
  at::get_num_threads();
  // omp_set_num_threads sets the calling thread's team size only (at::set_num_threads would also
  // change the process-wide value that threads initialising later copy). It is looked up at run
  // time: the OpenMP runtime is the one LibTorch was built with (pip wheels bundle their own), and
  // a build without OpenMP has none.
  using SetNumThreads = void (*)(int);
  static const auto set_num_threads =
      reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_num_threads == nullptr) return false;
  set_num_threads(1);
  return at::get_num_threads() == 1;
}

int configure_threads(int n) {
  const int threads = n > 0 ? n : available_cores();
  at::set_num_threads(threads);
  return at::get_num_threads();
}

c10::Device select_device(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  if (spec.rfind("cuda", 0) == 0) {
    KDAUG_CHECK(torch::cuda::is_available(), "device '", spec,
                "' requested but this LibTorch build or machine has no CUDA device");
    int index = 0;
    if (spec.size() > 4) {
      KDAUG_CHECK(spec[4] == ':' && spec.size() > 5, "device must be auto, cpu, cuda or cuda:N, got '", spec, "'");
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        KDAUG_FAIL("device must be auto, cpu, cuda or cuda:N, got '", spec, "'");
      }
    }
    KDAUG_CHECK(index >= 0 && index < static_cast<int>(torch::cuda::device_count()), "device '", spec,
                "' not found: this machine has ", torch::cuda::device_count(), " CUDA device(s)");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  KDAUG_FAIL("device must be auto, cpu, cuda or cuda:N, got '", spec, "'");
}

std::string runtime_summary() {
  std::string s = "LibTorch " TORCH_VERSION ", ";
  s += std::to_string(at::get_num_threads()) + " intra-op threads";
  s += torch::cuda::is_available() ? ", CUDA available" : ", no CUDA";
  return s;
}

}  // namespace kdaug
