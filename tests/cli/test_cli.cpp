// The command line, in-process: parsing, help, one-line errors with non-zero exits, and a tiny
// end-to-end train + resume + eval on real Fashion-MNIST.
#include <gtest/gtest.h>

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
// One error line naming the bad value.
void expect_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.log.find("kdaug: error: "), std::string::npos) << r.log;
  EXPECT_NE(r.log.find(needle), std::string::npos) << r.log;
  const auto err = r.log.substr(r.log.find("kdaug: error: "));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}
std::string temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
}  // namespace

TEST(Cli, HelpListsCommands) {
  auto r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"train", "eval", "models"}) EXPECT_NE(r.out.find(c), std::string::npos) << c;
  r = run({"train", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--epochs"), std::string::npos);
  EXPECT_NE(r.out.find("--resume"), std::string::npos);
}

TEST(Cli, UnknownCommandAndOption) {
  auto r = run({"trian"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.log.find("trian"), std::string::npos);
  r = run({"train", "--epoch", "3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.log.find("--epoch"), std::string::npos);
}

TEST(Cli, BadNumbersAreOneLineErrors) {
  expect_error(run({"train", "--epochs", "0"}), "epochs must be a positive integer, got 0");
  expect_error(run({"train", "--batch-size", "-4"}), "batch size must be a positive integer, got -4");
  expect_error(run({"train", "--lr", "nan"}), "learning rate must be a positive finite number, got nan");
  expect_error(run({"train", "--lr", "-0.1"}), "got -0.1");
  expect_error(run({"train", "--optimizer", "rmsprop"}), "rmsprop");
}

TEST(Cli, BadNamesAreOneLineErrors) {
  const auto out = temp_dir("badnames");
  expect_error(run({"train", "--dataset", "imagenet", "--out", out}), "imagenet");
  expect_error(run({"train", "--model", "resnet9", "--train-limit", "64", "--out", out}), "resnet9");
  expect_error(run({"eval", "--checkpoint", out + "/missing.pt"}), "missing.pt");
  expect_error(run({"train", "--dataset", "mnist", "--data-dir", out + "/nowhere", "--out", out}), "nowhere");
}

TEST(Cli, ModelsListsTheZoo) {
  auto r = run({"models"});
  ASSERT_EQ(r.code, 0) << r.log;
  for (const char* m : {"resnet8", "resnet56", "vgg13_bn", "mobilenetv2", "wrn_16_2"})
    EXPECT_NE(r.out.find(m), std::string::npos) << m;
  r = run({"models", "--json", "--channels", "3", "--height", "32", "--width", "32"});
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\"macs\""), std::string::npos);
}

TEST(Cli, TrainResumeEvalEndToEnd) {
  const auto out = temp_dir("e2e");
  const std::vector<std::string> args = {"train", "--model", "resnet8", "--epochs", "2", "--train-limit", "1024",
                                         "--val-size", "256", "--test-limit", "512", "--batch-size", "64",
                                         "--threads", "2", "--lr", "0.05", "--out", out};
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_TRUE(fs::exists(out + "/last.pt"));
  EXPECT_TRUE(fs::exists(out + "/best.pt"));
  EXPECT_TRUE(fs::exists(out + "/run.json"));
  EXPECT_NE(r.out.find("test acc"), std::string::npos);
  std::ifstream m(out + "/metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(m, l);) ++lines;
  EXPECT_EQ(lines, 2);

  // The same command again refuses to overwrite; with --resume it finishes at once.
  expect_error(run(args), "--resume");
  auto resumed = args;
  resumed.push_back("--resume");
  r = run(resumed);
  ASSERT_EQ(r.code, 0) << r.log;

  r = run({"eval", "--checkpoint", out + "/best.pt", "--test-limit", "512", "--threads", "2"});
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_NE(r.out.find("accuracy"), std::string::npos);
  EXPECT_TRUE(fs::exists(out + "/eval.json"));
  fs::remove_all(out);
}
