// Ablation descriptions (parsing, errors, the default table) and the statistics written to
// results.json / results.md, on fixed run summaries whose numbers are checked by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "kdaug/core/error.h"
#include "kdaug/report/ablation.h"

namespace fs = std::filesystem;
using namespace kdaug::report;

namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_ablation(YAML::Load(yaml), "abl.yaml");
  } catch (const kdaug::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(msg, needle) EXPECT_NE((msg).find(needle), std::string::npos) << "message: " << (msg)

// A summary.json as run_recipe writes it (student section; teacher agreement when distilled).
nlohmann::json summary(double acc, double nll, double noise, double agree = NAN) {
  nlohmann::json s;
  s["student"] = {{"model", "resnet8"}, {"params", 78000}, {"test_acc", acc}, {"test_nll", nll},
                  {"noise_acc", {{"0.2", noise}, {"0.05", noise + 0.1}}}};
  if (!std::isnan(agree)) s["student"]["teacher_agreement"] = agree;
  return s;
}

ArmRuns arm(const std::string& name, const std::vector<nlohmann::json>& sums) {
  ArmRuns a;
  a.name = name;
  for (size_t i = 0; i < sums.size(); ++i) {
    a.seeds.push_back(i);
    a.dirs.push_back("out/" + name + "/s" + std::to_string(i));
    a.summaries.push_back(sums[i]);
  }
  return a;
}

}  // namespace

TEST(Ablation, Parses) {
  const auto a = parse_ablation(YAML::Load(R"(
name: small
seeds: [4, 7]
set: [train.epochs=1]
arms:
  - {name: ce, recipe: r/ce.yaml}
  - {name: kd, recipe: r/kd.yaml, set: [objective.a=0.9, data.train_limit=10]}
)"),
                                "abl.yaml");
  EXPECT_EQ(a.name, "small");
  EXPECT_EQ(a.seeds, (std::vector<uint64_t>{4, 7}));
  EXPECT_EQ(a.sets, std::vector<std::string>{"train.epochs=1"});
  ASSERT_EQ(a.arms.size(), 2u);
  EXPECT_EQ(a.arms[1].name, "kd");
  EXPECT_EQ(a.arms[1].recipe, "r/kd.yaml");
  EXPECT_EQ(a.arms[1].sets.size(), 2u);
  EXPECT_EQ(a.baseline, "kd");  // no synergy arm: the last one
  EXPECT_DOUBLE_EQ(a.confidence, 0.95);
  EXPECT_EQ(parse_ablation(YAML::Load("arms: [{name: synergy, recipe: s.yaml}, {name: ce, recipe: c.yaml}]"), "")
                .baseline,
            "synergy");
}

TEST(Ablation, Errors) {
  const std::string arms = "arms: [{name: ce, recipe: c.yaml}, {name: kd, recipe: k.yaml}]\n";
  EXPECT_HAS(error_of(arms + "seed: [1]"), "ablation abl.yaml: seed: unknown key (did you mean seeds?)");
  EXPECT_HAS(error_of("arms: [{name: ce, recipie: c.yaml}]"), "arms[0].recipie: unknown key (did you mean recipe?)");
  EXPECT_HAS(error_of("arms: [{name: ce}]"), "arms[0].recipe: required");
  EXPECT_HAS(error_of("arms: [{recipe: c.yaml}]"), "arms[0].name: required");
  EXPECT_HAS(error_of("arms: [{name: a/b, recipe: c.yaml}]"), "arms[0].name: must not contain '/'");
  EXPECT_HAS(error_of("arms: [{name: ce, recipe: c.yaml}, {name: ce, recipe: d.yaml}]"),
             "arms[1].name: arm 'ce' is listed twice");
  EXPECT_HAS(error_of("arms: []"), "arms: expected a non-empty list");
  EXPECT_HAS(error_of("name: x"), "arms: expected a non-empty list");
  EXPECT_HAS(error_of("arms: [ce.yaml]"), "arms[0]: expected a map of keys, got 'ce.yaml'");
  EXPECT_HAS(error_of(arms + "baseline: kdd"), "baseline: 'kdd' is not an arm (did you mean kd?)");
  EXPECT_HAS(error_of(arms + "seeds: [0, 0]"), "seeds: 0 is listed twice");
  EXPECT_HAS(error_of(arms + "seeds: [a]"), "seeds: expected non-negative integers, got 'a'");
  EXPECT_HAS(error_of(arms + "seeds: []"), "seeds: expected a non-empty list");
  EXPECT_HAS(error_of(arms + "set: [train.epochs]"), "set: expected key.path=value, got 'train.epochs'");
  EXPECT_HAS(error_of(arms + "confidence: 95"), "confidence: must be in (0,1), got 95");
  EXPECT_HAS(error_of("- 1"), "expected a map with arms:");
}

TEST(Ablation, ShippedFileIsTheDefaultTable) {
  const auto src = fs::path(KDAUG_SOURCE_DIR);
  const auto file = load_ablation((src / "recipes/fmnist/ablation.yaml").string());
  const auto def = default_ablation("recipes/fmnist");
  ASSERT_EQ(file.arms.size(), 5u);
  ASSERT_EQ(def.arms.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(file.arms[i].name, def.arms[i].name);
    EXPECT_EQ(file.arms[i].recipe, def.arms[i].recipe);
  }
  EXPECT_EQ(def.arms[1].name, "ce+da");
  EXPECT_EQ(file.baseline, "synergy");
  EXPECT_EQ(def.baseline, "synergy");
  EXPECT_EQ(file.seeds, def.seeds);
  EXPECT_EQ(file.name, def.name);
}

TEST(Ablation, RunMetricsInTableOrder) {
  const auto m = run_metrics(summary(0.9, 0.3, 0.7, 0.95));
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].first, "test_acc");
  EXPECT_EQ(m[1].first, "test_nll");
  EXPECT_EQ(m[2].first, "noise_acc@0.05");  // sigmas in numeric order
  EXPECT_EQ(m[3].first, "noise_acc@0.2");
  EXPECT_DOUBLE_EQ(m[3].second, 0.7);
  EXPECT_EQ(m[4].first, "teacher_agreement");
  EXPECT_EQ(run_metrics(summary(0.9, 0.3, 0.7)).size(), 4u);
  EXPECT_EQ(metric_label("noise_acc@0.2"), "acc, noise sigma 0.2");
  EXPECT_THROW(run_metrics(nlohmann::json::object()), kdaug::Error);
  EXPECT_THROW(run_metrics({{"student", {{"test_acc", 0.5}}}}), kdaug::Error);
}

TEST(Ablation, ResultsByHand) {
  Ablation a;
  a.name = "hand";
  a.seeds = {0, 1, 2};
  a.arms = {{"ce", "ce.yaml", {}}, {"synergy", "syn.yaml", {}}};
  a.baseline = "synergy";
  // synergy acc {0.912, 0.905, 0.918}, ce acc {0.897, 0.893, 0.901} (stats values in test_stats.cpp);
  // NLLs constant within each arm, so their difference is exact.
  const std::vector<ArmRuns> runs = {
      arm("ce", {summary(0.897, 0.40, 0.5), summary(0.893, 0.40, 0.6), summary(0.901, 0.40, 0.7)}),
      arm("synergy", {summary(0.912, 0.30, 0.8, 0.97), summary(0.905, 0.30, 0.8, 0.96), summary(0.918, 0.30, 0.8, 0.98)})};
  const auto r = ablation_results(a, runs, true);
  EXPECT_EQ(r["ablation"], "hand");
  EXPECT_TRUE(r["complete"].get<bool>());
  EXPECT_EQ(r["metrics"], (nlohmann::json{"test_acc", "test_nll", "noise_acc@0.05", "noise_acc@0.2",
                                          "teacher_agreement"}));
  ASSERT_EQ(r["arms"].size(), 2u);
  const auto& ce = r["arms"][0];
  EXPECT_EQ(ce["name"], "ce");
  EXPECT_EQ(ce["recipe"], "ce.yaml");
  EXPECT_EQ(ce["runs"].size(), 3u);
  EXPECT_EQ(ce["runs"][2]["dir"], "out/ce/s2");
  EXPECT_NEAR(ce["metrics"]["test_acc"]["mean"].get<double>(), 0.897, 1e-12);
  EXPECT_NEAR(ce["metrics"]["test_acc"]["std"].get<double>(), 0.004, 1e-12);  // deviations -4e-3, 0, 4e-3
  EXPECT_EQ(ce["metrics"]["test_acc"]["n"], 3);
  EXPECT_NEAR(ce["metrics"]["noise_acc@0.2"]["std"].get<double>(), 0.1, 1e-12);
  EXPECT_FALSE(ce["metrics"].contains("teacher_agreement"));
  EXPECT_NEAR(r["arms"][1]["metrics"]["teacher_agreement"]["mean"].get<double>(), 0.97, 1e-12);

  // synergy vs ce on four metrics (the teacher agreement exists for one arm only).
  const auto& cmp = r["comparisons"];
  ASSERT_EQ(cmp.size(), 4u);
  const auto& acc = cmp[0];
  EXPECT_EQ(acc["arm"], "synergy");
  EXPECT_EQ(acc["versus"], "ce");
  EXPECT_EQ(acc["metric"], "test_acc");
  EXPECT_NEAR(acc["diff"].get<double>(), 0.0146666666666666667, 1e-12);
  EXPECT_NEAR(acc["ci_low"].get<double>(), 0.00137407284724660893, 1e-9);
  EXPECT_NEAR(acc["ci_high"].get<double>(), 0.0279592604860867244, 1e-9);
  EXPECT_NEAR(acc["p"].get<double>(), 0.0385615526568039603, 1e-9);
  EXPECT_NEAR(acc["df"].get<double>(), 3.32284489773775294, 1e-9);
  const auto& nll = cmp[1];
  EXPECT_EQ(nll["metric"], "test_nll");
  EXPECT_NEAR(nll["diff"].get<double>(), -0.1, 1e-12);
  EXPECT_EQ(nll["p"].get<double>(), 0.0);
  EXPECT_TRUE(nll["t"].is_null());  // -inf is not JSON

  const auto md = results_markdown(r);
  EXPECT_HAS(md, "# Ablation hand");
  EXPECT_HAS(md, "| arm | test acc | test NLL | acc, noise sigma 0.05 | acc, noise sigma 0.2 | teacher agreement |");
  EXPECT_HAS(md, "| ce | 0.8970 +- 0.0040 (3) | 0.4000 +- 0.0000 (3) |");
  EXPECT_HAS(md, "| - |\n");  // ce has no teacher agreement
  EXPECT_HAS(md, "## synergy against each arm");
  EXPECT_HAS(md, "| ce | test acc | +0.0147 | [+0.0014, +0.0280] | 0.0386 | 3.3 |");
  EXPECT_HAS(md, "| ce | test NLL | -0.1000 | [-0.1000, -0.1000] | <1e-4 | 4.0 |");
  EXPECT_EQ(md.find("Incomplete"), std::string::npos);
}

TEST(Ablation, PartialResults) {
  Ablation a;
  a.name = "partial";
  a.arms = {{"ce", "ce.yaml", {}}, {"synergy", "syn.yaml", {}}};
  a.baseline = "synergy";
  // One synergy run so far: a mean without std, and no comparison.
  const auto r = ablation_results(a, {arm("ce", {summary(0.8, 0.5, 0.6), summary(0.82, 0.5, 0.6)}),
                                      arm("synergy", {summary(0.85, 0.4, 0.7, 0.9)})},
                                  false);
  EXPECT_FALSE(r["complete"].get<bool>());
  EXPECT_TRUE(r["arms"][1]["metrics"]["test_acc"]["std"].is_null());
  EXPECT_EQ(r["arms"][1]["metrics"]["test_acc"]["n"], 1);
  EXPECT_TRUE(r["comparisons"].empty());
  const auto md = results_markdown(r);
  EXPECT_HAS(md, "| synergy | 0.8500 (1) |");
  EXPECT_HAS(md, "Incomplete");
  EXPECT_EQ(md.find("against each arm"), std::string::npos);
}
