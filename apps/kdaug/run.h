// Running a recipe end to end (shared by `kdaug run`, `kdaug distill` and the demo).
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "kdaug/cli.h"
#include "kdaug/data/dataset.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/models/model.h"
#include "kdaug/train/recipe.h"
#include "kdaug/train/views.h"

namespace kdaug::cli {

struct RunOutcome {
  std::string checkpoint;  // the model chosen on validation
  nlohmann::json summary;  // what summary.json holds
};

// Trains (after the teacher, when needed), evaluates on the test set, writes `out_dir`.
RunOutcome run_recipe(const train::Recipe& r, const RunArgs& a, const std::string& out_dir, const Io& io);

// Test metrics of a student and (when given) its teacher: clean accuracy and NLL, accuracy under
// Gaussian noise at each sigma (pixel units, clamped, seeded), parameters, teacher agreement.
nlohmann::json summarize(models::ClassifierImpl& student, models::ClassifierImpl* teacher,
                         const data::Dataset& test, const std::vector<double>& sigmas, uint64_t seed, const Io& io);

// The soft-label cache a distilling recipe asks for (teacher.cache): reused when it matches,
// resumed when a build was interrupted, (re)built otherwise. It covers the whole training file
// (so runs with other seeds, whose validation splits differ, share it) unless data.train_limit
// is set; then it covers the split the run trains on. `info` goes into summary.json.
struct PreparedCache {
  train::CachedTeacher cached;
  nlohmann::json info;
};
PreparedCache prepare_cache(const train::Recipe& r, const data::Splits& splits, const distill::Teacher& teacher,
                            const distill::Objective& objective, const augment::AugmentConfig& cfg, const Io& io,
                            int64_t stop_after_images = 0);

// The recipe's frozen teacher (teacher.checkpoint with teacher.precision, channels_last and
// fold_bn) on `device`; logs what was folded.
distill::Teacher load_teacher(const train::Recipe& r, c10::Device device, const Io& io);

// Top-1 agreement of `teacher` as configured (e.g. bf16) with the same network in fp32 on `test`.
double teacher_precision_agreement(const distill::Teacher& teacher, const data::Dataset& test);

// A pipeline's ops on one line, in order ("crop(...) -> rotate(...)"), or "none".
std::string one_line(const augment::Pipeline& p);

// The summary as a Markdown table (teacher and student rows).
std::string summary_markdown(const nlohmann::json& summary);

// BENCHMARK.md's canonical `fmnist-synergy` recipe, with `--set` style overrides applied.
YAML::Node canonical_synergy_recipe(const std::vector<std::string>& overrides);

}  // namespace kdaug::cli
