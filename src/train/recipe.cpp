#include "kdaug/train/recipe.h"

#include <cmath>

#include "kdaug/core/config.h"
#include "kdaug/core/error.h"

namespace kdaug::train {

using config::check_keys;
using config::get;

Recipe parse_recipe(const YAML::Node& root, const std::string& source) {
  Recipe r;
  r.source = source;
  const std::string where = "";  // top-level keys are reported bare ("train.lr")
  KDAUG_CHECK(root && root.IsMap(), "recipe ", source, ": expected a map of sections at the top level");
  try {
    check_keys(root, {"name", "seed", "seeds", "data", "model", "teacher", "augment", "perturb", "objective", "train",
                      "eval"},
               where);
    r.name = get<std::string>(root, "name", source, where);
    r.seed = get<uint64_t>(root, "seed", 0, where);
    if (root["seeds"]) {
      const auto seeds = root["seeds"];
      KDAUG_CHECK(seeds.IsSequence() && seeds.size() > 0, "seeds: expected a non-empty list of integers");
      for (const auto& s : seeds) {
        try {
          r.seeds.push_back(s.as<uint64_t>());
        } catch (const YAML::Exception&) {
          KDAUG_FAIL("seeds: expected non-negative integers, got '", YAML::Dump(s), "'");
        }
      }
    } else {
      r.seeds = {r.seed};
    }

    const auto d = root["data"];
    check_keys(d, {"dataset", "data_dir", "val_size", "train_limit", "test_limit"}, "data");
    r.data.dataset = get<std::string>(d, "dataset", r.data.dataset, "data");
    r.data.data_dir = get<std::string>(d, "data_dir", "", "data");
    r.data.val_size = get<int64_t>(d, "val_size", r.data.val_size, "data");
    r.data.train_limit = get<int64_t>(d, "train_limit", 0, "data");
    r.data.test_limit = get<int64_t>(d, "test_limit", 0, "data");
    KDAUG_CHECK(r.data.val_size >= 0, "data.val_size must be >= 0, got ", r.data.val_size);
    KDAUG_CHECK(r.data.train_limit >= 0, "data.train_limit must be >= 0, got ", r.data.train_limit);
    KDAUG_CHECK(r.data.test_limit >= 0, "data.test_limit must be >= 0, got ", r.data.test_limit);

    const auto m = root["model"];
    check_keys(m, {"name", "width_mult"}, "model");
    r.model = get<std::string>(m, "name", r.model, "model");
    r.width_mult = get<double>(m, "width_mult", 1.0, "model");

    const auto t = root["teacher"];
    check_keys(t, {"checkpoint", "recipe", "precision", "channels_last", "fold_bn", "cache"}, "teacher");
    r.teacher_checkpoint = get<std::string>(t, "checkpoint", "", "teacher");
    r.teacher_recipe = get<std::string>(t, "recipe", "", "teacher");
    r.teacher_precision = get<std::string>(t, "precision", r.teacher_precision, "teacher");
    KDAUG_CHECK(r.teacher_precision == "fp32" || r.teacher_precision == "bf16",
                "teacher.precision must be fp32 or bf16, got '", r.teacher_precision, "'");
    r.teacher_channels_last = get<bool>(t, "channels_last", r.teacher_channels_last, "teacher");
    r.teacher_fold_bn = get<bool>(t, "fold_bn", r.teacher_fold_bn, "teacher");
    if (t && t["cache"] && !t["cache"].IsNull()) {
      r.teacher_cache = true;
      r.cache = distill::CacheOptions::from_yaml(t["cache"], "teacher.cache");
    }
    KDAUG_CHECK(!t || !r.teacher_checkpoint.empty(),
                "teacher.checkpoint: required when a teacher is given (where the teacher is, or is to be trained to)");

    // Assigning a missing key's node throws in yaml-cpp: copy only what is there.
    if (root["augment"]) r.augment = root["augment"];
    if (root["perturb"]) r.perturb = root["perturb"];
    if (root["objective"]) r.objective = root["objective"];

    const auto tr = root["train"];
    check_keys(tr, {"input", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
                    "schedule", "warmup_epochs", "final_lr", "milestones", "gamma", "label_smoothing", "precision",
                    "channels_last"},
               "train");
    r.input = get<std::string>(tr, "input", r.input, "train");
    KDAUG_CHECK(r.input == "original" || r.input == "augmented", "train.input must be original or augmented, got '",
                r.input, "'");
    r.epochs = get<int64_t>(tr, "epochs", r.epochs, "train");
    r.batch_size = get<int64_t>(tr, "batch_size", r.batch_size, "train");
    KDAUG_CHECK(r.epochs > 0, "train.epochs must be a positive integer, got ", r.epochs);
    KDAUG_CHECK(r.batch_size > 0, "train.batch_size must be a positive integer, got ", r.batch_size);
    r.optim.name = get<std::string>(tr, "optimizer", r.optim.name, "train");
    r.optim.lr = get<double>(tr, "lr", r.optim.lr, "train");
    r.optim.momentum = get<double>(tr, "momentum", r.optim.momentum, "train");
    r.optim.nesterov = get<bool>(tr, "nesterov", r.optim.name == "sgd", "train");
    r.optim.weight_decay = get<double>(tr, "weight_decay", r.optim.weight_decay, "train");
    r.schedule.kind = get<std::string>(tr, "schedule", r.schedule.kind, "train");
    r.schedule.warmup_epochs = get<double>(tr, "warmup_epochs", 0.0, "train");
    r.schedule.final_lr = get<double>(tr, "final_lr", 0.0, "train");
    r.schedule.milestones = get<std::vector<double>>(tr, "milestones", {}, "train");
    r.schedule.gamma = get<double>(tr, "gamma", r.schedule.gamma, "train");
    r.label_smoothing = get<double>(tr, "label_smoothing", 0.0, "train");
    r.precision = get<std::string>(tr, "precision", r.precision, "train");
    KDAUG_CHECK(r.precision == "fp32" || r.precision == "bf16", "train.precision must be fp32 or bf16, got '",
                r.precision, "'");
    r.channels_last = get<bool>(tr, "channels_last", r.channels_last, "train");
    // The optimiser's own checks do not know the key path: name the keys people mistype most here.
    KDAUG_CHECK(std::isfinite(r.optim.lr) && r.optim.lr > 0, "train.lr must be a positive finite number, got ",
                r.optim.lr);
    KDAUG_CHECK(r.optim.name == "sgd" || r.optim.name == "adam" || r.optim.name == "adamw",
                "train.optimizer must be sgd, adam or adamw, got '", r.optim.name, "'");
    KDAUG_CHECK(r.schedule.kind == "cosine" || r.schedule.kind == "step" || r.schedule.kind == "constant",
                "train.schedule must be cosine, step or constant, got '", r.schedule.kind, "'");
    try {
      validate(r.optim);
      validate(r.schedule);
    } catch (const Error& e) {
      KDAUG_FAIL("train: ", e.what());
    }

    const auto ev = root["eval"];
    check_keys(ev, {"noise_sigmas"}, "eval");
    r.noise_sigmas = get<std::vector<double>>(ev, "noise_sigmas", r.noise_sigmas, "eval");
    for (double s : r.noise_sigmas) KDAUG_CHECK(s >= 0 && s <= 1, "eval.noise_sigmas: each must be in [0,1], got ", s);
  } catch (const Error& e) {
    if (source.empty()) throw;
    KDAUG_FAIL("recipe ", source, ": ", e.what());
  }
  r.resolved = YAML::Clone(root);
  return r;
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root = config::load_file(path);
  for (const auto& o : overrides) config::apply_override(root, o);
  return parse_recipe(root, path);
}

}  // namespace kdaug::train
