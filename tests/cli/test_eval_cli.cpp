// kdaug eval --suite and kdaug corruptions-preview, in-process on real Fashion-MNIST with
// small models saved through the library (no training: the numbers are not the point here,
// the plumbing, eval.json and the error lines are).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_run.h"
#include "kdaug/cli.h"
#include "kdaug/models/checkpoint.h"
#include "kdaug/models/registry.h"

namespace fs = std::filesystem;

namespace {
using kdaug_test::Result;
using kdaug_test::run;
void expect_error(const Result& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.log;
  const auto at = r.log.find("kdaug: error: ");
  ASSERT_NE(at, std::string::npos) << r.log;
  const auto err = r.log.substr(at);
  EXPECT_NE(err.find(needle), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}
// A directory with three Fashion-MNIST-shaped checkpoints: student (resnet8), teacher
// (resnet14), and a 5-class model that fits no Fashion-MNIST teacher.
struct Models {
  std::string dir, student, teacher, five;
  Models() {
    dir = (fs::temp_directory_path() / ("kdaug_cli_eval_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    kdaug::models::ModelSpec s;
    s.name = "resnet8";
    student = dir + "/student.pt";
    kdaug::models::save_model(student, *kdaug::models::make_model(s, 1), {{"seed", 0}});
    s.name = "resnet14";
    teacher = dir + "/teacher.pt";
    kdaug::models::save_model(teacher, *kdaug::models::make_model(s, 2));
    s.name = "resnet8";
    s.num_classes = 5;
    five = dir + "/five.pt";
    kdaug::models::save_model(five, *kdaug::models::make_model(s, 3));
  }
};
const Models& models() {
  static Models m;
  return m;
}
// Small everywhere so that the whole suite takes seconds.
std::vector<std::string> small(std::vector<std::string> args) {
  for (const char* a : {"--test-limit", "200", "--val-size", "300", "--corrupt-limit", "40", "--adv-limit", "40",
                        "--pgd-steps", "3", "--threads", "2", "--batch-size", "100"})
    args.push_back(a);
  return args;
}
}  // namespace

TEST(CliEval, SuiteAllWritesEveryFamily) {
  const auto& m = models();
  const auto json = m.dir + "/all.json";
  const auto r = run(small({"eval", "--checkpoint", m.student, "--teacher", m.teacher, "--baseline", m.teacher,
                            "--suite", "all", "--json", json}));
  ASSERT_EQ(r.code, 0) << r.log;
  std::ifstream f(json);
  const auto j = nlohmann::json::parse(f);
  for (const char* k : {"clean", "noise", "corrupt", "adv", "calib", "fidelity", "cost", "suite", "seconds",
                        "provenance", "model", "checkpoint"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["suite"].size(), 7u);
  EXPECT_EQ(j["clean"]["n"], 200);
  EXPECT_EQ(j["noise"]["points"].size(), 5u);
  EXPECT_EQ(j["corrupt"]["n"], 40);
  EXPECT_EQ(j["corrupt"]["corruptions"].size(), 21u);
  EXPECT_TRUE(j["corrupt"].contains("mce"));
  EXPECT_EQ(j["corrupt"]["ce"].size(), 21u);
  EXPECT_EQ(j["adv"]["n"], 40);
  EXPECT_EQ(j["adv"]["results"].size(), 6u);  // fgsm + pgd at 1, 4, 8 /255
  EXPECT_DOUBLE_EQ(j["adv"]["results"][5]["eps_255"].get<double>(), 8.0);
  EXPECT_EQ(j["adv"]["results"][5]["steps"], 3);
  EXPECT_EQ(j["calib"]["fitted"], true);
  EXPECT_EQ(j["calib"]["fit_n"], 300);
  EXPECT_EQ(j["calib"]["before"]["bins"].size(), 15u);
  EXPECT_EQ(j["fidelity"]["n"], 200);
  EXPECT_GT(j["cost"]["params"].get<int64_t>(), 0);
  EXPECT_EQ(j["cost"]["checkpoint_bytes"].get<int64_t>(), static_cast<int64_t>(fs::file_size(m.student)));
  // One Markdown section per family.
  for (const char* h : {"## Clean", "## Gaussian noise", "## Corruptions", "## Adversarial", "## Calibration",
                        "## Fidelity", "## Cost", "mCE"})
    EXPECT_NE(r.out.find(h), std::string::npos) << h;
}

TEST(CliEval, SubsetWithoutTeacherAndDefaultPath) {
  const auto& m = models();
  auto r = run(small({"eval", "--checkpoint", m.student, "--suite", "noise, calib", "--noise-sigmas", "0", "0.5"}));
  ASSERT_EQ(r.code, 0) << r.log;
  std::ifstream f(m.dir + "/eval.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["suite"], (nlohmann::json{"noise", "calib"}));
  EXPECT_FALSE(j.contains("clean"));
  EXPECT_EQ(j["noise"]["points"].size(), 2u);
  EXPECT_EQ(r.out.find("## Clean"), std::string::npos);
  // "all" without --teacher skips fidelity with a note instead of failing.
  r = run(small({"eval", "--checkpoint", m.student, "--suite", "all", "--corruptions", "fog", "--attacks", "fgsm",
                 "--json", m.dir + "/noteacher.json"}));
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.log.find("fidelity skipped"), std::string::npos);
}

TEST(CliEval, BadInputIsOneErrorLine) {
  const auto& m = models();
  expect_error(run({"eval", "--checkpoint", m.student, "--suite", "clean,robustness"}), "robustness");
  expect_error(run({"eval", "--checkpoint", m.student, "--suite", ""}), "--suite");
  expect_error(run({"eval", "--checkpoint", m.student, "--suite", "fidelity"}), "--teacher");
  expect_error(run({"eval", "--checkpoint", m.student, "--suite", "adv", "--attacks", "cw"}), "cw");
  expect_error(run({"eval", "--checkpoint", m.student, "--suite", "adv", "--adv-eps", "-2"}), "-2");
  expect_error(run(small({"eval", "--checkpoint", m.student, "--suite", "fidelity", "--teacher", m.five})),
               "5 classes but the checkpoint has 10");
  expect_error(run(small({"eval", "--checkpoint", m.student, "--suite", "corrupt", "--corruptions", "snow"})), "snow");
  expect_error(run(small({"eval", "--checkpoint", m.student, "--suite", "corrupt", "--severities", "6"})), "6");
}

TEST(CliEval, CorruptionsPreviewWritesAPng) {
  const auto& m = models();
  const auto png = m.dir + "/grid.png";
  auto r = run({"corruptions-preview", "--out", png, "--index", "3", "--scale", "1"});
  ASSERT_EQ(r.code, 0) << r.log;
  std::ifstream f(png, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_NE(r.out.find("zigzag"), std::string::npos);
  expect_error(run({"corruptions-preview", "--out", png, "--index", "10000"}), "10000");
}
