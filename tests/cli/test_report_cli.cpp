// kdaug report: writes DIR/report.html (or --out) atomically from a run directory, prints where,
// and fails with one line naming the directory when it holds nothing to report.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_run.h"
#include "kdaug/cli.h"

namespace fs = std::filesystem;

namespace {
using kdaug_test::Result;
using kdaug_test::run;
using kdaug_test::slurp;
}  // namespace

TEST(ReportCli, WritesTheReport) {
  const auto root = fs::temp_directory_path() / ("kdaug_report_cli_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "run");
  std::ofstream(root / "run" / "summary.json") << R"({"test_acc": 0.9, "test_nll": 0.3, "best_epoch": 1})";
  std::ofstream(root / "run" / "metrics.jsonl") << R"({"epoch": 1, "train_loss": 0.5, "val_acc": 0.9})" << "\n";

  auto r = run({"report", (root / "run").string()});
  ASSERT_EQ(r.code, 0) << r.log;
  const auto def = root / "run" / "report.html";
  EXPECT_NE(r.out.find(def.string()), std::string::npos) << r.out;
  const auto html = slurp(def);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("id=\"training-curves\""), std::string::npos);

  const auto out = root / "sub" / "r.html";
  r = run({"report", (root / "run").string(), "--out", out.string()});
  ASSERT_EQ(r.code, 0) << r.log;
  EXPECT_EQ(slurp(out), html);
  for (const auto& e : fs::directory_iterator(root / "sub")) EXPECT_EQ(e.path().filename(), "r.html");  // no temp left

  fs::create_directories(root / "empty");
  r = run({"report", (root / "empty").string()});
  EXPECT_EQ(r.code, 1);
  const auto at = r.log.find("kdaug: error: ");
  ASSERT_NE(at, std::string::npos) << r.log;
  const auto err = r.log.substr(at);
  EXPECT_NE(err.find((root / "empty").string()), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(root / "empty" / "report.html"));
  EXPECT_EQ(run({"report"}).code, 2);  // DIR is required
  fs::remove_all(root);
}
