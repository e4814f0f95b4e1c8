// The HTML report: base64 against RFC 4648's vectors, escaping, the SVG charts (well formed,
// non-finite values skipped), html_report on hand-written run and ablation directories (every
// section present, nothing fetched from the network, clear errors), and a render in headless
// Chromium (sections in the DOM, no console errors, a screenshot) when /usr/bin/chromium exists.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "kdaug/core/error.h"
#include "kdaug/report/html.h"
#include "kdaug/report/html_svg.h"

namespace fs = std::filesystem;
using namespace kdaug::report;
using nlohmann::json;

namespace {

#define EXPECT_HAS(text, needle) EXPECT_NE((text).find(needle), std::string::npos) << "missing: " << (needle)

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (auto i = s.find(needle); i != std::string::npos; i = s.find(needle, i + 1)) ++n;
  return n;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A per-process folder (the test binaries run in parallel).
fs::path temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_html_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string error_of(const std::string& dir) {
  try {
    html_report(dir);
  } catch (const kdaug::Error& e) {
    return e.what();
  }
  return "";
}

// Every <svg ...> is closed, and no coordinate is NaN or infinite.
void expect_svg(const std::string& s) {
  EXPECT_EQ(s.rfind("<svg", 0), 0u) << s.substr(0, 80);
  EXPECT_EQ(count(s, "<svg"), count(s, "</svg>"));
  EXPECT_GE(s.size(), 6u);
  EXPECT_EQ(s.substr(s.size() - 6), "</svg>");
  for (const char* bad : {"nan", "NaN", "inf", "\"-\""}) EXPECT_EQ(s.find(bad), std::string::npos) << bad;
}

// A 1x1 grey PNG (the smallest valid file), as the preview.
const unsigned char kPng[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
                              0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00,
                              0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
                              0x9c, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81, 0x4c, 0x17, 0xd7, 0xdf, 0x00,
                              0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
std::string png_bytes() { return std::string(reinterpret_cast<const char*>(kPng), sizeof(kPng)); }

json eval_json() {
  json bins = json::array();
  for (int i = 0; i < 5; ++i) {
    const double lo = i * 0.2;
    if (i == 0) {
      bins.push_back({{"lower", lo}, {"upper", lo + 0.2}, {"count", 0}, {"confidence", nullptr}, {"accuracy", nullptr}});
    } else {
      bins.push_back({{"lower", lo}, {"upper", lo + 0.2}, {"count", 10 * i}, {"confidence", lo + 0.1},
                      {"accuracy", lo + 0.05}});
    }
  }
  json stats = {{"temperature", 1.0}, {"ece", 0.05}, {"nll", 0.4}, {"accuracy", 0.8}, {"n", 100}, {"bins", bins}};
  json after = stats;
  after["temperature"] = 1.3;
  // 10 classes (fashion-mnist's names label them); the last class has no test image.
  json confusion = json::array();
  for (int i = 0; i < 10; ++i) {
    json row = json::array();
    for (int j = 0; j < 10; ++j) row.push_back(i == 9 ? 0 : (i == j ? 8 : (j == (i + 1) % 10 ? 2 : 0)));
    confusion.push_back(row);
  }
  return {{"dataset", "fashion-mnist"},
          {"test_n", 100},
          {"model", {{"name", "resnet8"}}},
          {"clean",
           {{"accuracy", 0.8},
            {"nll", 0.4},
            {"n", 100},
            {"per_class_accuracy", {0.9, 0.7, nullptr}},
            {"confusion", confusion}}},
          {"noise",
           {{"n", 100},
            {"seed", 0},
            {"points",
             {{{"sigma", 0.0}, {"accuracy", 0.8}, {"nll", 0.4}},
              {{"sigma", 0.1}, {"accuracy", nullptr}, {"nll", nullptr}},
              {{"sigma", 0.2}, {"accuracy", 0.5}, {"nll", 1.2}}}}}},
          {"corrupt",
           {{"n", 100},
            {"severities", {1, 3}},
            {"clean_accuracy", 0.8},
            {"mean_accuracy", 0.6},
            {"corruptions",
             {{"gaussian_noise", {{"accuracy", {0.7, 0.5}}, {"mean_accuracy", 0.6}}},
              {"<script>", {{"accuracy", {0.8, 0.6}}, {"mean_accuracy", 0.7}}}}}}},
          {"calib", {{"fitted", true}, {"fit_n", 50}, {"temperature", 1.3}, {"before", stats}, {"after", after}}},
          {"fidelity", {{"agreement", 0.9}, {"kl", 0.1}, {"n", 100}, {"teacher", "t.pt"}}}};
}

// A run directory as kdaug train + eval leave it.
fs::path make_run(const fs::path& d) {
  write(d / "run.json", json({{"command", "train"}, {"dataset", "fashion-mnist"}, {"epochs", 3}, {"seed", 0},
                              {"model", {{"name", "resnet8"}}}, {"recipe", "augment: [x < y & 'z']"}})
                            .dump(2));
  std::string lines;
  for (int e = 1; e <= 3; ++e) {
    json m = {{"epoch", e}, {"train_loss", 1.0 / e}, {"train_acc", 0.5 + 0.1 * e}, {"lr", 0.1 / e},
              {"seconds", 2.0}, {"images_per_s", 1000.0}, {"loss_ce", 1.0 / e}};
    if (e != 2) {
      m["val_acc"] = 0.55 + 0.1 * e;
      m["val_nll"] = 1.1 / e;
    }
    lines += m.dump() + "\n";
  }
  write(d / "metrics.jsonl", lines);
  write(d / "summary.json",
        json({{"best_epoch", 3}, {"val_acc", 0.85}, {"test_acc", 0.8}, {"test_nll", 0.4}, {"params", 77754}}).dump(2));
  write(d / "eval.json", eval_json().dump(2));
  write(d / "preview.png", png_bytes());
  return d;
}

json arm_json(const std::string& name, const std::string& dir, double acc, bool teacher) {
  json m = {{"test_acc", {{"mean", acc}, {"std", 0.01}, {"n", 2}, {"values", {acc - 0.01, acc + 0.01}}}},
            {"test_nll", {{"mean", 0.5}, {"std", nullptr}, {"n", 1}, {"values", {0.5}}}},
            {"noise_acc@0.2", {{"mean", acc - 0.2}, {"std", 0.02}, {"n", 2}, {"values", {acc - 0.2, acc - 0.2}}}}};
  if (teacher) m["teacher_agreement"] = {{"mean", 0.9}, {"std", 0.01}, {"n", 2}, {"values", {0.89, 0.91}}};
  return {{"name", name}, {"recipe", "recipes/" + name + ".yaml"}, {"metrics", m},
          {"runs", {{{"seed", 0}, {"dir", dir}, {"metrics", json::object()}}}}};
}

// An ablation folder as kdaug ablate leaves it: results.json recorded with another output folder
// (moved since), so the arms' run directories are found relative to the ablation.
fs::path make_ablation(const fs::path& d) {
  make_run(d / "kd" / "s0");
  json r = {{"ablation", "tiny <abl>"},
            {"source", "abl.yaml"},
            {"seeds", {0, 1}},
            {"set", {"train.epochs=1"}},
            {"baseline", "kd"},
            {"confidence", 0.95},
            {"complete", false},
            {"out", "runs/elsewhere"},
            {"metrics", {"test_acc", "test_nll", "noise_acc@0.2", "teacher_agreement"}},
            {"arms", {arm_json("ce", "runs/elsewhere/ce/s0", 0.7, false), arm_json("kd", "runs/elsewhere/kd/s0", 0.8, true)}},
            {"comparisons",
             {{{"arm", "kd"}, {"versus", "ce"}, {"metric", "test_acc"}, {"diff", 0.1}, {"ci_low", 0.05},
               {"ci_high", 0.15}, {"p", 0.01}, {"t", 5.0}, {"df", 2.0}, {"n", {2, 2}}}}}};
  write(d / "results.json", r.dump(2));
  return d;
}

void expect_sections(const std::string& html) {
  for (const auto& id : report_section_ids()) EXPECT_HAS(html, "id=\"" + id + "\"");
}

// No resource comes from the network: no URL at all, and every src= is a data: URI.
void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("//cdn"), std::string::npos);
  const std::regex src(R"((src|href)\s*=\s*"([^"]*)\")");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator(); ++it) {
    const std::string attr = (*it)[1], value = (*it)[2];
    if (attr == "src") {
      EXPECT_EQ(value.rfind("data:", 0), 0u) << value.substr(0, 60);
    } else {
      EXPECT_EQ(value.rfind("#", 0), 0u) << value;  // links stay inside the page
    }
  }
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

}  // namespace

TEST(HtmlBase64, Rfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\x00\xff\xfe", 3)), "AP/+");
}

TEST(HtmlEscape, AllFiveCharacters) {
  EXPECT_EQ(html_escape("a<b>&\"c'd"), "a&lt;b&gt;&amp;&quot;c&#39;d");
  EXPECT_EQ(html_escape("plain ±"), "plain ±");
  EXPECT_EQ(html_escape(""), "");
}

TEST(HtmlSvg, LineChartSkipsNonFinite) {
  const double nan = std::nan("");
  const auto s = svg_line_chart("loss <&>", {{"a", {1, 2, 3, 4}, {0.5, nan, 0.3, INFINITY}, {}},
                                             {"b", {1, 2}, {0.2, 0.1}, {}}},
                                "epoch", "loss");
  expect_svg(s);
  EXPECT_HAS(s, "loss &lt;&amp;&gt;");
  EXPECT_HAS(s, ">a<");  // legend with two series
  EXPECT_EQ(count(s, "<circle"), 4u);  // 2 finite points of a, 2 of b
  expect_svg(svg_line_chart("empty", {}, "x", "y"));
  expect_svg(svg_line_chart("all missing", {{"a", {nan}, {nan}, {}}}, "x", "y"));
  expect_svg(svg_line_chart("one point", {{"a", {1}, {1}, {}}}, "x", "y"));
}

TEST(HtmlSvg, BarChartLeavesMissingBarsOut) {
  const double nan = std::nan("");
  const auto s = svg_bar_chart("acc", {"x", "a very long category name", "z"},
                               {{"m", {}, {0.5, nan, -0.2}, {0.1, 0.1, nan}}, {"n", {}, {0.4, 0.3, 0.2}, {}}}, "acc");
  expect_svg(s);
  EXPECT_EQ(count(s, "</rect>"), 5u);  // bars (with a tooltip) are the only rects with content
  EXPECT_HAS(s, "a very long category name");
  expect_svg(svg_bar_chart("none", {}, {}, "y"));
  expect_svg(svg_bar_chart("all missing", {"a"}, {{"m", {}, {nan}, {}}}, "y"));
}

TEST(HtmlSvg, ReliabilityAndHeatmap) {
  std::vector<ReliabilityBinView> bins{{0, 0.5, std::nan(""), std::nan(""), 0}, {0.5, 1, 0.8, 0.7, 12}};
  const auto r = svg_reliability("calibration", bins);
  expect_svg(r);
  EXPECT_HAS(r, "12 images");
  EXPECT_EQ(count(r, "images</title>"), 1u);  // the empty bin has no bar
  const auto h = svg_heatmap("confusion", {{5, 1}, {2, std::nan("")}}, {"cat", "<dog>"});
  expect_svg(h);
  EXPECT_HAS(h, "&lt;dog&gt;");
  EXPECT_HAS(h, ">5<");
  expect_svg(svg_heatmap("empty", {}, {}));
}

TEST(HtmlReport, RunDirectory) {
  const auto d = make_run(temp_dir("run") / "r1");
  const auto html = html_report(d.string());
  expect_sections(html);
  expect_self_contained(html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_HAS(html, "data:image/png;base64," + base64(png_bytes()));
  EXPECT_HAS(html, "&lt;script&gt;");  // a corruption name is escaped
  EXPECT_HAS(html, "x &lt; y &amp; &#39;z&#39;");  // so is the recipe
  EXPECT_HAS(html, "Trouser");  // fashion-mnist class names on the confusion matrix
  EXPECT_HAS(html, "0.9000");  // fidelity agreement
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_EQ(html.find("NaN"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  fs::remove_all(d.parent_path());
}

TEST(HtmlReport, MissingDataGivesNotes) {
  const auto d = temp_dir("partial");
  write(d / "run.json", json({{"command", "train"}, {"model", {{"name", "resnet8"}}}}).dump());
  write(d / "metrics.jsonl", json({{"epoch", 1}, {"train_loss", 1.0}}).dump() + "\n{\"epoch\": 2, \"tra");
  const auto html = html_report(d.string());  // a live run's half-written last line is left out
  expect_sections(html);
  EXPECT_GE(count(html, "class=\"note\""), 6u);
  EXPECT_HAS(html, "kdaug eval --suite calib");
  fs::remove_all(d);
}

TEST(HtmlReport, AblationDirectory) {
  const auto d = make_ablation(temp_dir("abl"));
  const auto html = html_report(d.string());
  expect_sections(html);
  expect_self_contained(html);
  EXPECT_HAS(html, "tiny &lt;abl&gt;");
  EXPECT_HAS(html, "Incomplete");
  EXPECT_HAS(html, "0.7000 ± 0.0100 (2)");  // mean ± std (n)
  EXPECT_HAS(html, "0.5000 (1)");  // std null for one run
  EXPECT_HAS(html, "[+0.0500, +0.1500]");  // the comparison's interval
  EXPECT_HAS(html, "data:image/png;base64,");  // kd's run found relative to the moved ablation
  EXPECT_HAS(html, "(not found)");  // ce's run directory does not exist
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  fs::remove_all(d);
}

TEST(HtmlReport, ClearErrors) {
  const auto d = temp_dir("err");
  auto msg = error_of(d.string());
  EXPECT_HAS(msg, d.string());
  EXPECT_HAS(msg, "results.json");
  EXPECT_HAS(error_of((d / "nope").string()), "is not a directory");
  write(d / "summary.json", "{\"test_acc\": 0.5,");
  msg = error_of(d.string());
  EXPECT_HAS(msg, (d / "summary.json").string());
  EXPECT_HAS(msg, "not valid JSON");
  fs::remove(d / "summary.json");
  write(d / "metrics.jsonl", "{\"epoch\": 1}\nnot json\n{\"epoch\": 3}\n");
  msg = error_of(d.string());
  EXPECT_HAS(msg, "metrics.jsonl line 2");
  fs::remove(d / "metrics.jsonl");
  write(d / "results.json", "[1, 2");
  EXPECT_HAS(error_of(d.string()), "results.json is not valid JSON");
  fs::remove_all(d);
}

// ---- headless Chromium -----------------------------------------------------------------------

namespace {

const char* const kChromium = "/usr/bin/chromium";

struct Browser {
  int code;
  std::string out, err;
};

// One headless Chromium call on `page` with a fresh profile; `extra` are the mode flags.
Browser chromium(const fs::path& work, const fs::path& page, const std::string& extra, const std::string& tag) {
  const auto profile = work / ("profile_" + tag), out = work / (tag + ".out"), err = work / (tag + ".err");
  fs::remove_all(profile);
  const std::string cmd = std::string("timeout 60 ") + kChromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --user-data-dir='" + profile.string() + "' --enable-logging=stderr --v=0 " + extra +
                          " 'file://" + page.string() + "' > '" + out.string() + "' 2> '" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  return {rc, slurp(out), slurp(err)};
}

// Lines where the page's JavaScript console said something (Chromium logs them as
// "...:INFO:CONSOLE(1)] "Uncaught ReferenceError: ..."", or CONSOLE:1 in newer builds).
std::string console_errors(const std::string& err) {
  std::string found;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) found += line + "\n";
  }
  return found;
}

}  // namespace

TEST(HtmlChromium, RendersWithoutErrors) {
  if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " not found (Debian package chromium): render not checked";
  const auto work = temp_dir("chromium");
  // The check is real: a page with a script error is caught.
  write(work / "broken.html", "<!DOCTYPE html><html><body><p>x</p><script>undefined_fn()</script></body></html>");
  const auto broken = chromium(work, work / "broken.html", "--dump-dom", "broken");
  ASSERT_EQ(broken.code, 0) << broken.err;
  EXPECT_NE(console_errors(broken.err), "") << "a script error was not detected; stderr:\n" << broken.err;

  const auto page = work / "report.html";
  write(page, html_report(make_run(work / "run").string()));
  const auto dom = chromium(work, page, "--dump-dom", "dom");
  ASSERT_EQ(dom.code, 0) << dom.err;
  for (const auto& id : report_section_ids()) EXPECT_HAS(dom.out, "id=\"" + id + "\"");
  EXPECT_HAS(dom.out, "<svg");
  EXPECT_EQ(console_errors(dom.err), "");

  const auto shot = work / "report.png";
  const auto sc = chromium(work, page, "--screenshot='" + shot.string() + "' --window-size=1200,3000", "shot");
  ASSERT_EQ(sc.code, 0) << sc.err;
  EXPECT_EQ(console_errors(sc.err), "");
  ASSERT_TRUE(fs::exists(shot)) << sc.err;
  const auto png = slurp(shot);
  EXPECT_GT(png.size(), 20000u);  // a blank 1200x3000 page compresses to a few kB
  EXPECT_EQ(png.compare(0, 8, "\x89PNG\r\n\x1a\n"), 0);
  fs::remove_all(work);
}
