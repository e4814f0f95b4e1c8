// kdaug ablate [ABLATION.yaml] --seeds N: run every arm x seed of an ablation (each with
// run_recipe, into OUT/<arm>/s<seed>/), skip the runs that already finished, resume the one a
// kill interrupted, and write results.json + results.md (mean +- std per arm and metric; the
// baseline arm against every other with a confidence interval and Welch's p-value).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <ostream>

#include "kdaug/command.h"
#include "kdaug/common.h"
#include "kdaug/core/io.h"
#include "kdaug/report/ablation.h"
#include "kdaug/run.h"
#include "kdaug/train/recipe.h"

namespace fs = std::filesystem;

namespace kdaug::cli {
namespace {

struct AblateArgs {
  RuntimeArgs rt;                  // --threads / --device (the seeds come from the ablation)
  std::string file;                // ablation YAML ("" = BENCHMARK.md's table from recipes/fmnist/)
  int64_t seeds = 0;               // > 0: seeds 0..N-1 instead of the file's
  std::vector<std::string> sets;   // --set overrides for every arm (after the file's)
  std::string teacher;             // teacher.checkpoint for the arms that have a teacher
  std::string out;                 // output folder (default runs/<ablation name>)
  int64_t max_steps = 0;           // cut each epoch after N steps (smoke tests)
  int64_t stop_after = 0;          // > 0: stop after running this many runs (tests of restarting)
};

struct Planned {
  size_t arm;
  uint64_t seed;
  train::Recipe recipe;
  std::string dir;
};

// The resolved recipe of one arm x seed: the file's shared sets, the arm's, the command line's,
// the teacher (only where the recipe has one), then the seed.
train::Recipe plan_recipe(const report::Ablation& ab, const report::AblationArm& arm, const AblateArgs& a,
                          uint64_t seed) {
  std::vector<std::string> sets = ab.sets;
  sets.insert(sets.end(), arm.sets.begin(), arm.sets.end());
  sets.insert(sets.end(), a.sets.begin(), a.sets.end());
  sets.push_back("seed=" + std::to_string(seed));
  auto r = train::load_recipe(arm.recipe, sets);
  if (!a.teacher.empty() && r.distills()) {
    sets.insert(sets.end() - 1, "teacher.checkpoint=" + a.teacher);
    r = train::load_recipe(arm.recipe, sets);
  }
  return r;
}

std::string recipe_text(const train::Recipe& r) {
  return YAML::Dump(r.resolved) + "\n";
}

int cmd_ablate(const AblateArgs& a, const Io& io) {
  auto ab = a.file.empty() ? report::default_ablation("recipes/fmnist") : report::load_ablation(a.file);
  KDAUG_CHECK(a.seeds >= 0, "--seeds must be a positive integer, got ", a.seeds);
  KDAUG_CHECK(a.stop_after >= 0, "--stop-after must be >= 0, got ", a.stop_after);
  if (a.seeds > 0) {
    ab.seeds.clear();
    for (int64_t s = 0; s < a.seeds; ++s) ab.seeds.push_back(static_cast<uint64_t>(s));
  }
  if (!a.teacher.empty()) require_readable(a.teacher, "teacher checkpoint");
  const std::string out = a.out.empty() ? "runs/" + ab.name : a.out;

  // Every recipe is loaded and checked before anything trains.
  std::vector<Planned> plan;
  for (size_t i = 0; i < ab.arms.size(); ++i) {
    for (uint64_t seed : ab.seeds) {
      plan.push_back({i, seed, plan_recipe(ab, ab.arms[i], a, seed),
                      (fs::path(out) / ab.arms[i].name / ("s" + std::to_string(seed))).string()});
    }
  }
  // A folder made with another recipe (other --set, an edited file) is never reused or resumed.
  for (const auto& p : plan) {
    const auto old = (fs::path(p.dir) / "recipe.yaml").string();
    KDAUG_CHECK(!fs::exists(old) || read_text(old) == recipe_text(p.recipe), "run directory ", p.dir,
                " was made with a different recipe than arm ", ab.arms[p.arm].name, " seed ", p.seed,
                " now resolves to (compare ", old, "); pass another --out or remove it");
  }
  io.log << "ablation " << ab.name << ": " << ab.arms.size() << " arms x " << ab.seeds.size() << " seeds -> " << out
         << "\n";

  RunArgs ra;
  ra.rt = a.rt;
  ra.resume = true;  // a run a kill interrupted continues from its last checkpoint
  ra.max_steps = a.max_steps;
  std::vector<report::ArmRuns> runs(ab.arms.size());
  for (size_t i = 0; i < ab.arms.size(); ++i) runs[i].name = ab.arms[i].name;
  int64_t ran = 0;
  bool complete = true;
  for (size_t k = 0; k < plan.size(); ++k) {
    const auto& p = plan[k];
    const auto& arm = ab.arms[p.arm];
    const auto summary_path = (fs::path(p.dir) / "summary.json").string();
    const std::string tag = "[" + std::to_string(k + 1) + "/" + std::to_string(plan.size()) + "] " + arm.name + " s" +
                            std::to_string(p.seed);
    nlohmann::json summary;
    if (fs::exists(summary_path)) {
      io.log << tag << ": finished before, skipped\n";
      try {
        summary = nlohmann::json::parse(read_text(summary_path));
      } catch (const nlohmann::json::exception& e) {
        KDAUG_FAIL("cannot parse ", summary_path, ": ", e.what());
      }
    } else {
      if (a.stop_after > 0 && ran >= a.stop_after) {
        complete = false;
        continue;
      }
      io.log << tag << ": " << (fs::exists(fs::path(p.dir) / "last.pt") ? "resuming" : "running") << " "
             << arm.recipe << "\n";
      summary = run_recipe(p.recipe, ra, p.dir, io).summary;
      ++ran;
    }
    runs[p.arm].seeds.push_back(p.seed);
    runs[p.arm].dirs.push_back(p.dir);
    runs[p.arm].summaries.push_back(summary);
  }

  auto results = report::ablation_results(ab, runs, complete);
  results["provenance"] = provenance();
  results["out"] = out;
  const auto md = report::results_markdown(results);
  write_text_atomic((fs::path(out) / "results.json").string(), results.dump(2) + "\n");
  write_text_atomic((fs::path(out) / "results.md").string(), md);
  io.out << md;
  if (!complete) io.out << "\nstopped after " << ran << " runs (--stop-after); run the same command again to continue\n";
  io.out << "results: " << (fs::path(out) / "results.md").string() << "\n";
  return 0;
}

const Registration reg(
    "ablate", "run every arm x seed of an ablation (restartable) and compare the arms with Welch t-tests",
    [](CLI::App& sub) -> Runner {
      auto a = std::make_shared<AblateArgs>();
      add_runtime(sub, a->rt);
      sub.add_option("ablation", a->file,
                     "ablation YAML (arms, seeds, shared --set); default: ce, ce+da, kd, kd+da, synergy from "
                     "recipes/fmnist/");
      sub.add_option("--seeds", a->seeds, "run seeds 0..N-1 (default: the ablation's seeds)");
      sub.add_option("--set", a->sets, "override a value in every arm's recipe: key.path=value (repeatable)");
      sub.add_option("--teacher", a->teacher, "teacher checkpoint for the arms that distil (teacher.checkpoint)");
      sub.add_option("--out", a->out, "output folder (default runs/NAME): OUT/ARM/sSEED/, results.json, results.md");
      sub.add_option("--max-steps", a->max_steps, "cut each epoch after N steps (smoke tests)");
      sub.add_option("--stop-after", a->stop_after, "stop after running N runs (the next call continues)");
      return [a](const Io& io) { return cmd_ablate(*a, io); };
    });

}  // namespace
}  // namespace kdaug::cli
