// Pieces every command shares: runtime set-up, data loading, provenance.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <string>

#include "kdaug/cli.h"
#include "kdaug/core/error.h"
#include "kdaug/data/dataset.h"
#include "kdaug/models/model.h"

namespace kdaug::cli {

// Sets the thread count and picks the device; logs both.
c10::Device setup_runtime(const RuntimeArgs& rt, const Io& io);

// Loads train/val/test for the data flags (validation split seeded by `seed`).
data::Splits load_data(const DataArgs& d, uint64_t seed);

// A model spec sized for a dataset (channels, size, classes, normalisation).
models::ModelSpec spec_for(const data::Dataset& ds, const std::string& model, double width_mult);

// kdaug version, git commit, LibTorch version, threads: written into every run directory.
nlohmann::json provenance();

// "runs/<kind>-<model>-s<seed>"
std::string default_run_dir(const std::string& kind, const std::string& model, uint64_t seed);

}  // namespace kdaug::cli
