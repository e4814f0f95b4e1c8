// `kdaug run` and `kdaug distill` end to end on a small Fashion-MNIST subset: a tiny teacher is
// trained first, then the shipped ablation recipes run against it with --set overrides.
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
void expect_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  const auto at = r.log.find("kdaug: error: ");
  ASSERT_NE(at, std::string::npos) << r.log;
  EXPECT_NE(r.log.find(needle, at), std::string::npos) << r.log;
  const auto err = r.log.substr(at);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}
std::string temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_run_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
std::string recipe(const std::string& name) { return std::string(KDAUG_SOURCE_DIR) + "/recipes/fmnist/" + name; }
nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}
// Small data and short epochs for every recipe run here.
std::vector<std::string> small(const std::string& teacher) {
  return {"--set", "teacher.checkpoint=" + teacher, "--set", "data.train_limit=768", "--set", "data.val_size=128",
          "--set", "data.test_limit=256", "--set", "train.epochs=2", "--set", "train.batch_size=64",
          "--set", "train.lr=0.05", "--threads", "2"};
}

// A tiny teacher shared by the tests (trained once per process).
const std::string& tiny_teacher() {
  static const std::string path = [] {
    const auto out = temp_dir("teacher");
    const auto r = run({"train", "--model", "resnet8", "--epochs", "2", "--train-limit", "1024", "--val-size", "128",
                        "--test-limit", "256", "--batch-size", "64", "--lr", "0.05", "--threads", "2", "--out", out});
    EXPECT_EQ(r.code, 0) << r.log;
    return out + "/best.pt";
  }();
  return path;
}
}  // namespace

TEST(RunCli, SynergyRecipeTrainsEvaluatesAndWritesTheRunDirectory) {
  const auto out = temp_dir("synergy");
  auto args = std::vector<std::string>{"run", recipe("synergy.yaml"), "--out", out};
  for (const auto& a : small(tiny_teacher())) args.push_back(a);
  const auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.log;
  // Every view is in play: the log names the augmentation and the perturbation.
  EXPECT_NE(r.log.find("rotate("), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("gaussian_noise("), std::string::npos) << r.log;
  for (const char* f : {"last.pt", "best.pt", "metrics.jsonl", "recipe.yaml", "run.json", "summary.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  const auto s = read_json(out + "/summary.json");
  ASSERT_TRUE(s.contains("teacher") && s.contains("student")) << s.dump();
  EXPECT_EQ(s["student"]["model"], "resnet8");
  EXPECT_GT(s["teacher"]["params"].get<int64_t>(), 0);  // frozen parameters still count
  EXPECT_GT(s["student"]["test_acc"].get<double>(), 0.2);  // 10 classes: chance is 0.1
  EXPECT_TRUE(s["student"]["noise_acc"].contains("0.2"));
  EXPECT_GE(s["student"]["teacher_agreement"].get<double>(), 0.0);
  // The table names both rows and the noise column.
  EXPECT_NE(r.out.find("| teacher |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| student |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("noise sigma 0.2"), std::string::npos) << r.out;
  // Provenance: the resolved recipe (with the overrides) and the versions.
  std::ifstream ry(out + "/recipe.yaml");
  std::stringstream rs;
  rs << ry.rdbuf();
  EXPECT_NE(rs.str().find("train_limit: 768"), std::string::npos) << rs.str();
  const auto run_json = read_json(out + "/run.json");
  EXPECT_TRUE(run_json.contains("provenance")) << run_json.dump();

  // A second run into the same directory is refused; with --resume it re-evaluates at once.
  expect_error(run(args), "--resume");
  args.push_back("--resume");
  const auto again = run(args);
  ASSERT_EQ(again.code, 0) << again.log;
  EXPECT_EQ(read_json(out + "/summary.json")["student"]["test_acc"], s["student"]["test_acc"]);
  fs::remove_all(out);
}

TEST(RunCli, EveryAblationArmRuns) {
  for (const char* arm : {"ce.yaml", "ce_da.yaml", "kd.yaml", "kd_da.yaml"}) {
    SCOPED_TRACE(arm);
    const auto out = temp_dir(arm);
    auto args = std::vector<std::string>{"run", recipe(arm), "--out", out, "--max-steps", "3"};
    for (const auto& a : small(tiny_teacher())) args.push_back(a);
    const auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.log;
    EXPECT_TRUE(fs::exists(out + "/summary.json"));
    fs::remove_all(out);
  }
}

TEST(RunCli, DistillUsesTheCanonicalRecipe) {
  const auto out = temp_dir("distill");
  auto args = std::vector<std::string>{"distill", "--teacher", tiny_teacher(), "--student", "resnet8",
                                       "--epochs", "1", "--max-steps", "3", "--out", out};
  for (const auto& a : small(tiny_teacher())) args.push_back(a);
  const auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.log.find("recipe fmnist-synergy"), std::string::npos) << r.log;
  EXPECT_TRUE(fs::exists(out + "/summary.json"));
  fs::remove_all(out);
}

TEST(RunCli, BadRecipesAreOneLineErrors) {
  const auto dir = temp_dir("bad");
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  expect_error(run({"run", dir + "/missing.yaml"}), "missing.yaml");
  expect_error(run({"run", write("typo.yaml", "name: x\ntrian: {epochs: 1}\n")}), "did you mean train");
  expect_error(run({"run", write("epochs.yaml", "name: x\ntrain: {epochs: 0}\n")}), "train.epochs");
  expect_error(run({"run", write("noteacher.yaml", "name: x\nteacher: {checkpoint: " + dir + "/nope.pt}\n")}),
               "nope.pt");
  expect_error(run({"run", write("obj.yaml", "name: x\nteacher: {checkpoint: " + tiny_teacher() +
                                                 "}\nobjective: {augmented: {distance: kl, temprature: 4}}\n"),
                    "--set", "data.train_limit=64", "--set", "data.val_size=16", "--threads", "2"}),
               "temperature");
  expect_error(run({"distill", "--teacher", dir + "/nope.pt"}), "nope.pt");
  fs::remove_all(dir);
}

TEST(RunCli, TrainWithARecipeTrainsOnAugmentedViews) {
  const auto out = temp_dir("train_recipe");
  const auto r = run({"train", "--model", "resnet8", "--epochs", "1", "--train-limit", "512", "--val-size", "64",
                      "--test-limit", "128", "--max-steps", "3", "--threads", "2", "--recipe", recipe("ce_da.yaml"),
                      "--out", out});
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.log.find("augment: crop("), std::string::npos) << r.log;
  fs::remove_all(out);
}

TEST(RunCli, SoftLabelCacheIsBuiltOnceAndReusedByTheNextRun) {
  const auto dir = temp_dir("cache");
  const auto cache = dir + "/t.slc";
  auto args = [&](const std::string& out) {
    auto a = std::vector<std::string>{"run", recipe("synergy.yaml"), "--out", dir + "/" + out, "--set",
                                      "teacher.cache.path=" + cache, "--set", "teacher.cache.views=2"};
    for (const auto& s : small(tiny_teacher())) a.push_back(s);
    return a;
  };
  const auto first = run(args("a"));
  ASSERT_EQ(first.code, 0) << first.log;
  const auto s1 = read_json(dir + "/a/summary.json");
  ASSERT_TRUE(s1.contains("cache")) << s1.dump();
  EXPECT_TRUE(s1["cache"]["built"].get<bool>());
  EXPECT_EQ(s1["cache"]["images"].get<int64_t>(), 768);  // train_limit: the split the run trains on
  EXPECT_EQ(s1["cache"]["views"].get<int64_t>(), 2);
  EXPECT_EQ(s1["cache"]["file_bytes"].get<int64_t>(), 4096 + 768 * 2 * 28);
  EXPECT_GT(s1["student"]["test_acc"].get<double>(), 0.15);  // learned from cached labels (chance is 0.1)
  const auto second = run(args("b"));  // another run of the same teacher, views and split
  ASSERT_EQ(second.code, 0) << second.log;
  EXPECT_FALSE(read_json(dir + "/b/summary.json")["cache"]["built"].get<bool>());
  EXPECT_NE(second.log.find("reused"), std::string::npos) << second.log;

  const auto info = run({"cache", "info", cache});
  EXPECT_EQ(info.code, 0) << info.log;
  EXPECT_NE(info.out.find("teacher_hash"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("checksum ok"), std::string::npos) << info.out;
  // A cut file is one clear error line, and a recipe without teacher.cache has nothing to build.
  fs::resize_file(cache, fs::file_size(cache) - 7);
  expect_error(run({"cache", "info", cache}), "truncated");
  expect_error(run({"cache", "build", recipe("ce.yaml")}), "teacher.cache");
  fs::remove_all(dir);
}
