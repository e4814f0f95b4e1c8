#include "kdaug/common.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <ostream>

#include "kdaug/core/runtime.h"
#include "kdaug/version.h"

namespace kdaug::cli {

c10::Device setup_runtime(const RuntimeArgs& rt, const Io& io) {
  KDAUG_CHECK(rt.threads >= 0, "--threads must be >= 0, got ", rt.threads);
  configure_threads(rt.threads);
  const auto device = select_device(rt.device);
  io.log << "kdaug " << KDAUG_VERSION << ": " << runtime_summary() << ", device " << device.str() << "\n";
  return device;
}

data::Splits load_data(const DataArgs& d, uint64_t seed) {
  data::DataOptions o;
  o.dataset = d.dataset;
  o.data_dir = d.data_dir;
  o.val_size = d.val_size;
  o.seed = seed;
  o.train_limit = d.train_limit;
  o.test_limit = d.test_limit;
  KDAUG_CHECK(d.train_limit >= 0, "--train-limit must be >= 0, got ", d.train_limit);
  KDAUG_CHECK(d.test_limit >= 0, "--test-limit must be >= 0, got ", d.test_limit);
  return data::load_splits(o);
}

models::ModelSpec spec_for(const data::Dataset& ds, const std::string& model, double width_mult) {
  models::ModelSpec s;
  s.name = model;
  s.in_channels = ds.channels();
  s.height = ds.height();
  s.width = ds.width();
  s.num_classes = ds.num_classes;
  s.width_mult = width_mult;
  s.mean = ds.mean;
  s.std = ds.std;
  return s;
}

nlohmann::json provenance() {
  return {{"kdaug_version", KDAUG_VERSION},
          {"git_commit", KDAUG_GIT_COMMIT},
          {"libtorch_version", TORCH_VERSION},
          {"threads", at::get_num_threads()}};
}

std::string default_run_dir(const std::string& kind, const std::string& model, uint64_t seed) {
  return "runs/" + kind + "-" + model + "-s" + std::to_string(seed);
}

}  // namespace kdaug::cli
