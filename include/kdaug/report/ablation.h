// Ablations: a set of arms (each a recipe) run over several seeds, then summarised per arm
// (mean +- sample std over seeds) and compared against one baseline arm with Welch's t-test.
// This file holds the description (parsed from YAML) and the statistics over finished runs;
// running the arms is the command line's job (apps/kdaug/cmd_ablate.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kdaug::report {

struct AblationArm {
  std::string name;               // label in tables; runs go to OUT/<name>/s<seed>/
  std::string recipe;             // recipe file, relative to the working directory (as on the command line)
  std::vector<std::string> sets;  // `key.path=value` overrides for this arm, after the shared ones
};

struct Ablation {
  std::string name = "ablation";   // default output folder runs/<name>
  std::string source;              // the file it came from ("" when built in code)
  std::vector<AblationArm> arms;   // in table order
  std::vector<uint64_t> seeds{0, 1, 2};  // every arm runs once per seed (the recipe's seed is replaced)
  std::vector<std::string> sets;   // overrides applied to every arm (e.g. train.epochs=15)
  std::string baseline;            // the arm compared with every other one ("" = no comparisons)
  double confidence = 0.95;        // level of the confidence intervals
};

// Parses an ablation file:
//   name: fmnist-ablation
//   seeds: [0, 1, 2]
//   set: [train.epochs=15]
//   baseline: synergy            # default: the arm named synergy when there is one, else the last arm
//   confidence: 0.95
//   arms:
//     - {name: ce, recipe: recipes/fmnist/ce.yaml}
//     - {name: kd, recipe: recipes/fmnist/kd.yaml, set: [objective.a=0.9]}
// Unknown keys, duplicate or unsafe arm names and a baseline that is no arm throw kdaug::Error naming
// the key path (and the file when `source` is given).
Ablation parse_ablation(const YAML::Node& root, const std::string& source);
Ablation load_ablation(const std::string& path);

// BENCHMARK.md's ablation table from the recipes in `recipe_dir`: ce, ce+da, kd, kd+da, synergy
// (ce.yaml, ce_da.yaml, kd.yaml, kd_da.yaml, synergy.yaml), seeds 0..2, baseline synergy.
Ablation default_ablation(const std::string& recipe_dir = "recipes/fmnist");

// The metrics of one run, from its summary.json (the student's section), in table order:
// test_acc, test_nll, noise_acc@<sigma> for each sigma, teacher_agreement when present.
std::vector<std::pair<std::string, double>> run_metrics(const nlohmann::json& summary);

// A readable label for a metric key ("noise_acc@0.2" -> "acc, noise sigma 0.2").
std::string metric_label(const std::string& key);

// The finished runs of one arm: one summary.json (and run directory) per seed.
struct ArmRuns {
  std::string name;
  std::vector<uint64_t> seeds;
  std::vector<std::string> dirs;
  std::vector<nlohmann::json> summaries;
};

// results.json: per arm and metric the values, mean, sample std (null for n < 2) and n; for the
// baseline against every other arm and each metric both have with n >= 2: the difference of means
// (baseline - arm), its confidence interval and Welch's two-sided p-value (with t and df).
// `complete` says whether every arm x seed is among `runs`.
nlohmann::json ablation_results(const Ablation& a, const std::vector<ArmRuns>& runs, bool complete);

// results.md: the two tables of `results` (mean +- std (n) per arm; baseline - arm with CI and p).
std::string results_markdown(const nlohmann::json& results);

}  // namespace kdaug::report
