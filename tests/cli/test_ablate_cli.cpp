// kdaug ablate end to end on a tiny ablation (2 arms x 2 seeds, 256 training images, 1 epoch,
// a resnet8 teacher trained here): stopping part-way and rerunning redoes nothing that had
// finished and gives the same results as an uninterrupted ablation; every run directory holds
// the resolved recipe and the provenance; results.json has the documented structure.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <sstream>

#include "cli/cli_run.h"
#include "kdaug/cli.h"

namespace fs = std::filesystem;

namespace {
using kdaug_test::Result;
using kdaug_test::run;
using kdaug_test::slurp;
nlohmann::json load_json(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }
size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (auto i = s.find(needle); i != std::string::npos; i = s.find(needle, i + 1)) ++n;
  return n;
}

class AblateCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("kdaug_ablate_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    // A tiny teacher, so that no arm ever starts the 3-hour resnet56 teacher recipe.
    const auto r = run({"train", "--model", "resnet8", "--epochs", "1", "--train-limit", "256", "--val-size", "64",
                        "--test-limit", "200", "--batch-size", "64", "--threads", "2", "--out",
                        (root_ / "teacher").string()});
    ASSERT_EQ(r.code, 0) << r.log;
    teacher_ = (root_ / "teacher" / "last.pt").string();
    ASSERT_TRUE(fs::exists(teacher_));
    const std::string rec = std::string(KDAUG_SOURCE_DIR) + "/recipes/fmnist/";
    std::ofstream(root_ / "abl.yaml") << "name: tiny\nseeds: [0, 1]\n"
                                      << "set: [data.train_limit=256, data.val_size=64, data.test_limit=200, "
                                         "train.epochs=1, train.batch_size=64]\n"
                                      << "baseline: kd\narms:\n"
                                      << "  - {name: ce, recipe: " << rec << "ce.yaml}\n"
                                      << "  - {name: kd, recipe: " << rec << "kd.yaml}\n";
    // The uninterrupted ablation both tests compare against.
    whole_ = run(args(root_ / "whole"));
    ASSERT_EQ(whole_.code, 0) << whole_.log;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::vector<std::string> args(const fs::path& out) {
    return {"ablate", (root_ / "abl.yaml").string(), "--teacher", teacher_, "--threads", "2", "--out", out.string()};
  }

  static fs::path root_;
  static std::string teacher_;
  static Result whole_;
};
fs::path AblateCli::root_;
std::string AblateCli::teacher_;
Result AblateCli::whole_;

}  // namespace

TEST_F(AblateCli, StopRestartSkipsFinishedRunsAndMatchesAnUninterruptedAblation) {
  const auto out = root_ / "stopped";
  // "Killed" after the first run: only ce/s0 exists, the partial results say so.
  auto a = args(out);
  a.insert(a.end(), {"--stop-after", "1"});
  auto r = run(a);
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.out.find("stopped after 1 runs"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "ce/s0/summary.json"));
  EXPECT_FALSE(fs::exists(out / "ce/s1"));
  EXPECT_FALSE(fs::exists(out / "kd"));
  EXPECT_FALSE(load_json(out / "results.json")["complete"].get<bool>());
  const auto first_summary = slurp(out / "ce/s0/summary.json");
  const auto first_mtime = fs::last_write_time(out / "ce/s0/summary.json");
  const auto first_ckpt_mtime = fs::last_write_time(out / "ce/s0/last.pt");

  // Rerun: ce/s0 is skipped (file untouched), the three others run.
  r = run(args(out));
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_EQ(count(r.log, "finished before, skipped"), 1u) << r.log;
  EXPECT_NE(r.log.find("[1/4] ce s0: finished before, skipped"), std::string::npos) << r.log;
  EXPECT_EQ(count(r.log, ": running "), 3u) << r.log;
  EXPECT_EQ(fs::last_write_time(out / "ce/s0/summary.json"), first_mtime);
  EXPECT_EQ(fs::last_write_time(out / "ce/s0/last.pt"), first_ckpt_mtime);
  EXPECT_EQ(slurp(out / "ce/s0/summary.json"), first_summary);
  const auto results = load_json(out / "results.json");
  EXPECT_TRUE(results["complete"].get<bool>());

  // A third call does nothing but rewrite identical results.
  r = run(args(out));
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_EQ(count(r.log, "finished before, skipped"), 4u) << r.log;
  EXPECT_EQ(load_json(out / "results.json"), results);

  // A run killed after training but before its summary: resumed from last.pt, same numbers.
  const auto kd1 = load_json(out / "kd/s1/summary.json");
  fs::remove(out / "kd/s1/summary.json");
  r = run(args(out));
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.log.find("kd s1: resuming"), std::string::npos) << r.log;
  EXPECT_EQ(load_json(out / "kd/s1/summary.json")["student"], kd1["student"]);
  EXPECT_EQ(load_json(out / "results.json")["arms"], results["arms"]);

  // The same ablation without interruption: the same per-run metrics.
  const auto w = load_json(root_ / "whole" / "results.json");
  ASSERT_EQ(w["arms"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    for (size_t s = 0; s < 2; ++s)
      EXPECT_EQ(w["arms"][i]["runs"][s]["metrics"], results["arms"][i]["runs"][s]["metrics"]) << i << " " << s;
  }
  EXPECT_EQ(w["comparisons"], results["comparisons"]);
}

TEST_F(AblateCli, ResultsStructureAndRunDirectories) {
  const auto out = root_ / "whole";
  auto r = whole_;
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_EQ(count(r.log, ": running "), 4u) << r.log;
  EXPECT_NE(r.out.find("| arm | test acc | test NLL | acc, noise sigma 0.2 | teacher agreement |"), std::string::npos)
      << r.out;
  EXPECT_EQ(slurp(out / "results.md"), r.out.substr(0, r.out.find("results: ")));

  const auto j = load_json(out / "results.json");
  EXPECT_EQ(j["ablation"], "tiny");
  EXPECT_EQ(j["seeds"], (nlohmann::json{0, 1}));
  EXPECT_EQ(j["baseline"], "kd");
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["metrics"], (nlohmann::json{"test_acc", "test_nll", "noise_acc@0.2", "teacher_agreement"}));
  for (const char* k : {"kdaug_version", "git_commit", "libtorch_version"}) EXPECT_TRUE(j["provenance"].contains(k)) << k;
  ASSERT_EQ(j["arms"].size(), 2u);
  for (const auto& arm : j["arms"]) {
    ASSERT_EQ(arm["runs"].size(), 2u);
    const auto& acc = arm["metrics"]["test_acc"];
    EXPECT_EQ(acc["n"], 2);
    const double a0 = acc["values"][0], a1 = acc["values"][1];
    EXPECT_NEAR(acc["mean"].get<double>(), (a0 + a1) / 2, 1e-12);
    EXPECT_NEAR(acc["std"].get<double>(), std::abs(a0 - a1) / std::sqrt(2.0), 1e-12);
    EXPECT_GT(acc["mean"].get<double>(), 0.1);  // better than chance after one tiny epoch
  }
  EXPECT_FALSE(j["arms"][0]["metrics"].contains("teacher_agreement"));  // ce has no teacher
  EXPECT_TRUE(j["arms"][1]["metrics"].contains("teacher_agreement"));
  // kd against ce on the three shared metrics.
  ASSERT_EQ(j["comparisons"].size(), 3u);
  for (const auto& c : j["comparisons"]) {
    EXPECT_EQ(c["arm"], "kd");
    EXPECT_EQ(c["versus"], "ce");
    EXPECT_LE(c["ci_low"].get<double>(), c["diff"].get<double>());
    EXPECT_GE(c["ci_high"].get<double>(), c["diff"].get<double>());
    EXPECT_GE(c["p"].get<double>(), 0.0);
    EXPECT_LE(c["p"].get<double>(), 1.0);
  }

  // Each run directory: the resolved recipe (seed and overrides applied; the teacher only where the
  // recipe distils) and run.json with the provenance.
  const auto ce = YAML::LoadFile((out / "ce/s1/recipe.yaml").string());
  EXPECT_EQ(ce["seed"].as<int>(), 1);
  EXPECT_EQ(ce["train"]["epochs"].as<int>(), 1);
  EXPECT_EQ(ce["data"]["train_limit"].as<int>(), 256);
  EXPECT_FALSE(ce["teacher"]);
  const auto kd = YAML::LoadFile((out / "kd/s0/recipe.yaml").string());
  EXPECT_EQ(kd["teacher"]["checkpoint"].as<std::string>(), teacher_);
  const auto rj = load_json(out / "kd/s0/run.json");
  for (const char* k : {"kdaug_version", "git_commit", "libtorch_version"}) EXPECT_TRUE(rj["provenance"].contains(k)) << k;
  EXPECT_EQ(rj["seed"], 0);

  // Rerunning into the same folder with other overrides is refused, naming the folder.
  auto other = args(out);
  other.insert(other.end(), {"--set", "train.lr=0.05"});
  r = run(other);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.log.find("was made with a different recipe"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find((out / "ce/s0").string()), std::string::npos) << r.log;
}

TEST_F(AblateCli, BadInputIsOneLineError) {
  auto r = run({"ablate", (root_ / "missing.yaml").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.log.find("missing.yaml"), std::string::npos) << r.log;
  r = run({"ablate", (root_ / "abl.yaml").string(), "--teacher", (root_ / "nope.pt").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.log.find("teacher checkpoint not found"), std::string::npos) << r.log;
  r = run({"ablate", (root_ / "abl.yaml").string(), "--set", "train.epohcs=2", "--out", (root_ / "bad").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.log.find("train.epohcs: unknown key (did you mean epochs?)"), std::string::npos) << r.log;
  EXPECT_FALSE(fs::exists(root_ / "bad"));  // checked before anything runs
  r = run({"ablate", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--seeds"), std::string::npos);
  EXPECT_NE(r.out.find("--stop-after"), std::string::npos);
}
