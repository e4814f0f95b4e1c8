// Recipes: a YAML file that fully describes a run (data, model, teacher, augmentation,
// perturbation, objective, optimiser, schedule, epochs, seed, evaluation), parsed into plain
// structs with every unknown key and bad value reported by its key path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kdaug/data/dataset.h"
#include "kdaug/distill/cache.h"
#include "kdaug/train/optim.h"

namespace kdaug::train {

struct Recipe {
  std::string name;                 // a label for reports
  std::string source;               // the file it came from ("" when built in code)
  uint64_t seed = 0;                // every random stream derives from it
  std::vector<uint64_t> seeds;      // ablations: one run per seed (default: {seed})
  data::DataOptions data;           // data: {dataset, data_dir, val_size, train_limit, test_limit}
  std::string model = "resnet8";    // model: {name, width_mult}: the network this recipe trains
  double width_mult = 1.0;
  std::string teacher_checkpoint;   // teacher: {checkpoint, recipe}: a frozen teacher for distillation,
  std::string teacher_recipe;       //   trained from `recipe` first when the checkpoint does not exist
  std::string teacher_precision = "fp32";  // teacher.precision: fp32 | bf16 (the frozen teacher's forward)
  bool teacher_channels_last = false;      // teacher.channels_last
  bool teacher_fold_bn = true;             // teacher.fold_bn: BatchNorm folded into the convolutions
  bool teacher_cache = false;              // teacher.cache: {...} present: soft labels from a SoftLabelCache
  distill::CacheOptions cache;             //   its options (views, storage, topk, path, on_mismatch, seed)
  YAML::Node augment;               // augment: [...] (x' = augment(x))
  YAML::Node perturb;               // perturb: [...] (x'' = perturb(x'))
  YAML::Node objective;             // objective: {...} (absent: plain cross-entropy on x)
  std::string input = "original";   // train.input: what the plain CE step sees: original | augmented
  int64_t epochs = 15;              // train: {...}
  int64_t batch_size = 128;
  OptimizerOptions optim;
  ScheduleOptions schedule;
  double label_smoothing = 0;
  std::string precision = "fp32";   // train.precision: fp32 | bf16 (mixed precision)
  bool channels_last = false;       // train.channels_last
  std::vector<double> noise_sigmas{0.2};  // eval.noise_sigmas: Gaussian-noise accuracies reported after training
  YAML::Node resolved;              // the whole tree after overrides (written into run directories)

  bool distills() const { return !teacher_checkpoint.empty() || !teacher_recipe.empty(); }
};

// Parses a recipe tree. `source` names the file in errors. Paths inside (teacher checkpoint and
// recipe) are taken as written: relative to the working directory, as on the command line.
Recipe parse_recipe(const YAML::Node& root, const std::string& source);

// Loads a file, applies `--set key.path=value` overrides in order, and parses it.
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace kdaug::train
