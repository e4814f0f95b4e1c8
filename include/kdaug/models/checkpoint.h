// Model checkpoints: one file holding a zoo model's parameters and buffers, its ModelSpec (so
// it can be rebuilt without knowing the architecture in advance), free-form metadata, and any
// extra state a caller adds (the trainer stores optimiser state, epoch and RNG there).
//
// Format "kdaug-model-v1": a torch::serialize archive (a zip file) with keys
//   "format" string "kdaug-model-v1", "spec" string (ModelSpec::to_json), "meta" string (JSON),
//   "model" nested archive (torch::nn::Module::save layout), plus whatever `extra` writes.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <functional>
#include <string>

#include "kdaug/models/model.h"

namespace kdaug::models {

// The format tag stored under "format".
inline constexpr const char* kCheckpointFormat = "kdaug-model-v1";

// Writes `model` (any device; tensors are stored as they are) to `path` atomically (temp file +
// rename; parent directories created). `extra`, when given, may write more keys into the
// top-level archive; it must not use "format", "spec", "meta" or "model".
// Throws kdaug::Error naming the path on I/O failure.
void save_model(const std::string& path, ClassifierImpl& model, const nlohmann::json& meta = {},
                const std::function<void(torch::serialize::OutputArchive&)>& extra = nullptr);

struct LoadedModel {
  Classifier model;  // rebuilt from spec, weights loaded, on `device`, in eval mode
  ModelSpec spec;
  nlohmann::json meta;
};

// Rebuilds the model saved at `path` and loads its weights, then moves it to `device`.
// `extra`, when given, reads the caller's keys from the top-level archive (tensors in it are
// on the CPU). Throws kdaug::Error (one line naming the path) when the file is missing, is not
// a kdaug checkpoint or is corrupt/truncated, or a parameter is missing or has the wrong shape.
LoadedModel load_model(const std::string& path, c10::Device device = c10::kCPU,
                       const std::function<void(torch::serialize::InputArchive&)>& extra = nullptr);

// Loads the weights (parameters and buffers, including the normalisation buffers) of the
// checkpoint at `path` into an existing model, on the model's device. Throws kdaug::Error
// "checkpoint P belongs to model A, not B" when the names differ, and the load_model errors
// otherwise (e.g. a shape mismatch when num_classes or in_channels differ).
void load_weights_into(ClassifierImpl& model, const std::string& path);

}  // namespace kdaug::models
