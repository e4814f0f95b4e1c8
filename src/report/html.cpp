// The HTML report of a run directory or an ablation: reads the JSON files the commands write
// (see html.h for the list) and lays them out as one page of sections, each a heading, short
// tables and inline SVG charts. A section without its data holds a one-line note.
#include "kdaug/report/html.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/report/ablation.h"
#include "kdaug/report/html_svg.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace kdaug::report {

const std::vector<std::string>& report_section_ids() {
  static const std::vector<std::string> ids{"overview",    "training-curves", "ablation",
                                            "noise-sweep", "corruptions",     "reliability",
                                            "confusion",   "agreement",       "augmentation"};
  return ids;
}

std::string base64(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- reading ------------------------------------------------------------------------------

// The parsed file, or null when it does not exist. Invalid JSON throws, naming the file.
json read_json(const fs::path& p) {
  if (!fs::exists(p)) return json();
  const auto text = read_text(p.string());
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    KDAUG_FAIL("report: ", p.string(), " is not valid JSON: ", e.what());
  }
}

// metrics.jsonl: one JSON object per line. A last line without its newline is an epoch being
// written right now (the run is live) and is left out when it does not parse yet.
std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> rows;
  if (!fs::exists(p)) return rows;
  const auto text = read_text(p.string());
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const bool complete = end != std::string::npos;
    const auto line = text.substr(start, complete ? end - start : std::string::npos);
    ++line_no;
    start = complete ? end + 1 : text.size();
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      rows.push_back(json::parse(line));
    } catch (const json::exception& e) {
      if (!complete) break;
      KDAUG_FAIL("report: ", p.string(), " line ", line_no, " is not valid JSON: ", e.what());
    }
  }
  return rows;
}

// A number at `key` (a JSON pointer-free path of object keys), NaN when missing, null or not a number.
double num(const json& j, const std::string& key) {
  if (!j.is_object()) return kNaN;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}
double num(const json& j) { return j.is_number() ? j.get<double>() : kNaN; }

std::string str(const json& j, const std::string& key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_null()) return "";
  return it->dump();
}

const json& child(const json& j, const std::string& key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string fmt(double v, const char* f = "%.4f") {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// The files of one run directory (every member may be null/empty).
struct RunFiles {
  fs::path dir;
  json run, summary, eval;
  std::vector<json> metrics;
  std::string preview;  // preview.png bytes
  bool any() const { return !run.is_null() || !summary.is_null() || !metrics.empty(); }
};

RunFiles read_run(const fs::path& dir) {
  RunFiles r;
  r.dir = dir;
  r.run = read_json(dir / "run.json");
  r.summary = read_json(dir / "summary.json");
  r.eval = read_json(dir / "eval.json");
  r.metrics = read_jsonl(dir / "metrics.jsonl");
  if (fs::exists(dir / "preview.png")) r.preview = read_text((dir / "preview.png").string());
  return r;
}

// Class names of the datasets kdaug reads, for the confusion matrix (indices for others).
std::vector<std::string> class_names(const std::string& dataset, size_t k) {
  std::vector<std::string> names;
  if (dataset == "fashion-mnist") {
    names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  } else if (dataset == "cifar10") {
    names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  }
  if (names.size() != k) {
    names.clear();
    for (size_t i = 0; i < k; ++i) names.push_back(std::to_string(i));
  }
  return names;
}

// ---- page building blocks -----------------------------------------------------------------

std::string note(const std::string& text) { return "<p class=\"note\">" + html_escape(text) + "</p>\n"; }

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + html_escape(title) + "</h2>\n" + body + "</section>\n";
}

// A table from escaped-on-the-way-in text cells; `numeric` columns are right-aligned.
struct Table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  std::string html(size_t first_text_cols = 1) const {
    std::ostringstream o;
    o << "<table>\n";
    if (std::any_of(head.begin(), head.end(), [](const std::string& h) { return !h.empty(); })) {
      o << "<thead><tr>";
      for (const auto& h : head) o << "<th>" << html_escape(h) << "</th>";
      o << "</tr></thead>\n";
    }
    o << "<tbody>\n";
    for (const auto& r : rows) {
      o << "<tr>";
      for (size_t i = 0; i < r.size(); ++i) {
        o << (i < first_text_cols ? "<td>" : "<td class=\"num\">") << html_escape(r[i]) << "</td>";
      }
      o << "</tr>\n";
    }
    o << "</tbody>\n</table>\n";
    return o.str();
  }
};

std::string figure(const std::string& svg) { return "<div class=\"figure\">" + svg + "</div>\n"; }

bool is_png(const std::string& bytes) { return bytes.size() > 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0; }

// Shown at twice its size (the grids hold 28x28 or 32x32 images), at most the page's width.
std::string png_img(const std::string& bytes, const std::string& alt) {
  uint32_t w = 0;  // IHDR width: big-endian at bytes 16..19
  for (size_t i = 16; i < 20 && i < bytes.size(); ++i) w = (w << 8) | static_cast<uint8_t>(bytes[i]);
  const std::string width = w > 0 && w < 100000 ? " width=\"" + std::to_string(std::min<uint32_t>(2 * w, 1150)) + "\"" : "";
  return "<img class=\"preview\"" + width + " alt=\"" + html_escape(alt) + "\" src=\"data:image/png;base64," +
         base64(bytes) + "\">\n";
}

// ---- run sections -------------------------------------------------------------------------

std::string model_name(const RunFiles& r) {
  for (const json* m : {&child(r.run, "model"), &child(r.eval, "model")}) {
    if (!str(*m, "name").empty()) return str(*m, "name");
  }
  const auto& st = child(r.summary, "student");
  return str(st, "model");
}

std::string run_overview(const RunFiles& r) {
  Table t{{"", ""}, {}};
  auto add = [&](const std::string& k, const std::string& v) {
    if (!v.empty() && v != "-") t.rows.push_back({k, v});
  };
  add("directory", r.dir.string());
  add("command", str(r.run, "command"));
  add("recipe file", str(r.run, "recipe_file"));
  add("model", model_name(r));
  const auto dataset = !str(r.run, "dataset").empty() ? str(r.run, "dataset") : str(r.eval, "dataset");
  add("dataset", dataset);
  add("seed", str(r.run, "seed"));
  add("epochs", str(r.run, "epochs").empty() ? str(r.summary, "epochs") : str(r.run, "epochs"));
  const auto& prov = child(r.run, "provenance");
  if (prov.is_object()) {
    add("kdaug", str(prov, "kdaug_version") + " (git " + str(prov, "git_commit") + "), LibTorch " +
                     str(prov, "libtorch_version") + ", " + str(prov, "threads") + " threads");
  }
  add("epochs finished", r.metrics.empty() ? "" : std::to_string(r.metrics.size()));
  add("best epoch (validation)", str(r.summary, "best_epoch"));
  add("validation accuracy", fmt(num(r.summary, "val_acc")));
  add("test accuracy", fmt(num(r.summary, "test_acc")));
  add("test NLL", fmt(num(r.summary, "test_nll")));
  add("parameters", str(r.summary, "params"));
  add("training time (s)", fmt(num(r.summary, "train_seconds"), "%.0f"));
  const auto& clean = child(r.eval, "clean");
  if (clean.is_object()) {
    add("eval: clean accuracy", fmt(num(clean, "accuracy")) + " on " + str(clean, "n") + " test images");
    add("eval: clean NLL", fmt(num(clean, "nll")));
  }
  std::string body = t.rows.empty() ? "" : t.html(2);
  // kdaug run: the student (and teacher) rows of its summary.
  Table roles{{"role", "model", "parameters", "test acc", "test NLL", "teacher agreement"}, {}};
  for (const char* role : {"teacher", "student"}) {
    const auto& m = child(r.summary, role);
    if (!m.is_object()) continue;
    roles.rows.push_back({role, str(m, "model"), str(m, "params"), fmt(num(m, "test_acc")), fmt(num(m, "test_nll")),
                          fmt(num(m, "teacher_agreement"))});
  }
  if (!roles.rows.empty()) body += roles.html(2);
  const auto cost = child(r.eval, "cost");
  if (cost.is_object()) {
    Table c{{"parameters", "MACs / image", "checkpoint bytes", "device", "threads"},
            {{str(cost, "params"), str(cost, "macs"), str(cost, "checkpoint_bytes"), str(cost, "device"),
              str(cost, "threads")}}};
    body += "<h3>Cost</h3>\n" + c.html(0);
  }
  const auto recipe = str(r.run, "recipe");
  if (!recipe.empty()) {
    body += "<details><summary>recipe</summary><pre>" + html_escape(recipe) + "</pre></details>\n";
  }
  if (r.summary.is_null()) body += note("No summary.json: the run has not finished (or was not started by kdaug run/train).");
  return body;
}

std::string run_curves(const RunFiles& r) {
  if (r.metrics.empty()) return note("No metrics.jsonl in this directory: no training curves.");
  std::vector<double> epoch;
  std::map<std::string, std::vector<double>> col;
  std::vector<std::string> loss_terms;
  for (size_t i = 0; i < r.metrics.size(); ++i) {
    const auto& m = r.metrics[i];
    epoch.push_back(std::isfinite(num(m, "epoch")) ? num(m, "epoch") : static_cast<double>(i + 1));
    if (m.is_object()) {
      for (const auto& [k, v] : m.items()) {
        if (k.rfind("loss_", 0) == 0 && std::find(loss_terms.begin(), loss_terms.end(), k) == loss_terms.end())
          loss_terms.push_back(k);
      }
    }
  }
  auto series = [&](const std::string& key, const std::string& name) {
    Series s{name, epoch, {}, {}};
    for (const auto& m : r.metrics) s.y.push_back(num(m, key));
    return s;
  };
  std::vector<Series> loss{series("train_loss", "train loss")};
  // One term only is the training loss itself; several are drawn each.
  if (loss_terms.size() > 1) {
    for (const auto& k : loss_terms) loss.push_back(series(k, k.substr(5) + " term"));
  }
  loss.push_back(series("val_nll", "validation NLL"));
  std::string body = "<div class=\"row\">";
  body += figure(svg_line_chart("Loss", loss, "epoch", "loss"));
  body += figure(svg_line_chart("Accuracy", {series("train_acc", "train"), series("val_acc", "validation")}, "epoch",
                                "accuracy"));
  body += figure(svg_line_chart("Learning rate", {series("lr", "learning rate")}, "epoch", "lr"));
  body += figure(svg_line_chart("Throughput", {series("images_per_s", "images / s")}, "epoch", "images / s"));
  body += "</div>\n";
  return body;
}

std::string noise_from_run(const RunFiles& r) {
  const auto& pts = child(child(r.eval, "noise"), "points");
  if (pts.is_array() && !pts.empty()) {
    Series acc{"accuracy", {}, {}, {}};
    Table t{{"sigma", "accuracy", "NLL"}, {}};
    for (const auto& p : pts) {
      acc.x.push_back(num(p, "sigma"));
      acc.y.push_back(num(p, "accuracy"));
      t.rows.push_back({fmt(num(p, "sigma"), "%.3g"), fmt(num(p, "accuracy")), fmt(num(p, "nll"))});
    }
    return figure(svg_line_chart("Accuracy under Gaussian noise (" + str(child(r.eval, "noise"), "n") + " images)",
                                 {acc}, "noise sigma (images in [0,1])", "accuracy")) +
           t.html(0);
  }
  // kdaug run's summary: accuracy at the recipe's noise sigmas, student and teacher.
  std::vector<Series> ss;
  for (const char* role : {"student", "teacher"}) {
    const auto& na = child(child(r.summary, role), "noise_acc");
    if (!na.is_object() || na.empty()) continue;
    std::vector<std::pair<double, double>> xy;
    for (const auto& [k, v] : na.items()) {
      try {
        xy.emplace_back(std::stod(k), num(v));
      } catch (const std::exception&) {
        // a key that is no number is not a sigma: left out
      }
    }
    const double clean = num(child(r.summary, role), "test_acc");
    if (std::isfinite(clean)) xy.emplace_back(0.0, clean);
    std::sort(xy.begin(), xy.end());
    Series s{role, {}, {}, {}};
    for (const auto& [x, y] : xy) {
      s.x.push_back(x);
      s.y.push_back(y);
    }
    ss.push_back(s);
  }
  if (ss.empty()) return note("No noise sweep: run `kdaug eval --suite noise` on this run's checkpoint.");
  return figure(svg_line_chart("Accuracy under Gaussian noise (summary.json)", ss, "noise sigma", "accuracy")) +
         note("From summary.json (sigma 0 is the clean test accuracy); kdaug eval --suite noise gives a full sweep.");
}

// Mean accuracy per corruption (with the baseline's when eval had --baseline).
std::string corruptions_from_run(const RunFiles& r) {
  const auto& cr = child(r.eval, "corrupt");
  const auto& cs = child(cr, "corruptions");
  if (!cs.is_object() || cs.empty()) return note("No corruption results: run `kdaug eval --suite corrupt`.");
  std::vector<std::string> names;
  Series model{model_name(r).empty() ? "model" : model_name(r), {}, {}, {}};
  for (const auto& [k, v] : cs.items()) {
    names.push_back(k);
    model.y.push_back(num(v, "mean_accuracy"));
  }
  std::vector<Series> series{model};
  const auto& base = child(child(child(cr, "baseline"), "report"), "corruptions");
  if (base.is_object()) {
    Series b{"baseline", {}, {}, {}};
    for (const auto& n : names) b.y.push_back(num(child(base, n), "mean_accuracy"));
    series.push_back(b);
  }
  std::string body = figure(svg_bar_chart("Mean accuracy over severities per corruption (" + str(cr, "n") + " images)",
                                          names, series, "accuracy", std::max(720, 34 * static_cast<int>(names.size())),
                                          340));
  Table t{{"corruption"}, {}};
  const auto& sev = child(cr, "severities");
  if (sev.is_array()) {
    for (const auto& s : sev) t.head.push_back("severity " + s.dump());
  }
  t.head.push_back("mean");
  const auto& ce = child(cr, "ce");
  if (ce.is_object()) t.head.push_back("CE");
  for (const auto& n : names) {
    std::vector<std::string> row{n};
    const auto& acc = child(child(cs, n), "accuracy");
    if (acc.is_array()) {
      for (const auto& a : acc) row.push_back(fmt(num(a)));
    }
    row.push_back(fmt(num(child(cs, n), "mean_accuracy")));
    if (ce.is_object()) row.push_back(fmt(num(ce, n), "%.3f"));
    t.rows.push_back(row);
  }
  body += "<p>Clean accuracy " + fmt(num(cr, "clean_accuracy")) + ", mean corruption accuracy " +
          fmt(num(cr, "mean_accuracy")) +
          (std::isfinite(num(cr, "mce")) ? ", mCE " + fmt(num(cr, "mce"), "%.3f") + " (baseline = 1)" : "") + ".</p>\n";
  body += "<details><summary>accuracy per severity</summary>" + t.html() + "</details>\n";
  return body;
}

std::vector<ReliabilityBinView> bins_of(const json& stats) {
  std::vector<ReliabilityBinView> out;
  const auto& bins = child(stats, "bins");
  if (!bins.is_array()) return out;
  for (const auto& b : bins) {
    ReliabilityBinView v;
    v.lower = num(b, "lower");
    v.upper = num(b, "upper");
    v.confidence = num(b, "confidence");
    v.accuracy = num(b, "accuracy");
    v.count = std::isfinite(num(b, "count")) ? static_cast<long long>(num(b, "count")) : 0;
    out.push_back(v);
  }
  return out;
}

std::string reliability_from_run(const RunFiles& r, const std::string& label = "") {
  const auto& c = child(r.eval, "calib");
  if (!c.is_object() || !child(c, "before").is_object()) {
    return note("No calibration results" + (label.empty() ? "" : " for " + label) +
                ": run `kdaug eval --suite calib`.");
  }
  const bool fitted = child(c, "fitted").is_boolean() && child(c, "fitted").get<bool>();
  const std::string prefix = label.empty() ? "" : label + ": ";
  std::string body = "<div class=\"row\">";
  body += figure(svg_reliability(prefix + "before temperature scaling", bins_of(child(c, "before"))));
  if (fitted) {
    body += figure(svg_reliability(prefix + "after (T = " + fmt(num(c, "temperature"), "%.3f") + ")",
                                   bins_of(child(c, "after"))));
  }
  body += "</div>\n";
  Table t{{"", "temperature", "ECE", "NLL", "accuracy"}, {}};
  for (const char* k : {"before", "after"}) {
    if (std::string(k) == "after" && !fitted) continue;
    const auto& s = child(c, k);
    t.rows.push_back({k, fmt(num(s, "temperature"), "%.3f"), fmt(num(s, "ece")), fmt(num(s, "nll")),
                      fmt(num(s, "accuracy"))});
  }
  body += t.html();
  if (!fitted) body += note("Temperature not fitted (no validation set).");
  return body;
}

std::string confusion_from_run(const RunFiles& r) {
  const auto& clean = child(r.eval, "clean");
  const auto& conf = child(clean, "confusion");
  if (!conf.is_array() || conf.empty()) return note("No confusion matrix: run `kdaug eval --suite clean`.");
  std::vector<std::vector<double>> m;
  for (const auto& row : conf) {
    std::vector<double> v;
    if (row.is_array()) {
      for (const auto& x : row) v.push_back(num(x));
    }
    m.push_back(v);
  }
  const auto labels = class_names(str(r.eval, "dataset"), m.size());
  std::string body = "<div class=\"row\">";
  // Cells shrink with the number of classes (CIFAR-100's matrix stays about 1200 pixels wide).
  const int cell = std::clamp(static_cast<int>(600 / std::max<size_t>(m.size(), 1)), 12, 30);
  body += figure(svg_heatmap("Confusion matrix (" + str(clean, "n") + " test images)", m, labels, cell));
  const auto& pca = child(clean, "per_class_accuracy");
  if (pca.is_array() && !pca.empty()) {
    Series s{"", {}, {}, {}};
    for (const auto& v : pca) s.y.push_back(num(v));
    body += figure(svg_bar_chart("Accuracy per class", class_names(str(r.eval, "dataset"), s.y.size()), {s},
                                 "accuracy", 520, 340));
  }
  body += "</div>\n";
  return body;
}

std::string agreement_from_run(const RunFiles& r) {
  Table t{{"source", "teacher", "agreement", "KL(teacher || student)", "images"}, {}};
  const auto& f = child(r.eval, "fidelity");
  if (f.is_object()) {
    t.rows.push_back({"eval.json (fidelity)", str(f, "teacher"), fmt(num(f, "agreement")), fmt(num(f, "kl")),
                      str(f, "n")});
  }
  const auto& st = child(r.summary, "student");
  const auto& te = child(r.summary, "teacher");
  if (std::isfinite(num(st, "teacher_agreement"))) {
    t.rows.push_back({"summary.json", str(te, "model"), fmt(num(st, "teacher_agreement")), "-", "test set"});
  }
  std::string body;
  if (t.rows.empty()) {
    return note("No teacher/student agreement: this run has no teacher (run `kdaug eval --suite fidelity --teacher "
                "CHECKPOINT`).");
  }
  body += t.html(2);
  if (te.is_object()) {
    Series s{"", {}, {}, {}};
    s.y = {num(te, "test_acc"), num(st, "test_acc"), num(st, "teacher_agreement")};
    body += figure(svg_bar_chart("Teacher and student", {"teacher accuracy", "student accuracy", "agreement"}, {s},
                                 "fraction", 420, 280));
    if (std::isfinite(num(te, "precision_agreement"))) {
      body += "<p>Teacher at " + html_escape(str(te, "precision")) + " agrees with itself at fp32 on " +
              fmt(100 * num(te, "precision_agreement"), "%.2f") + "% of the test images.</p>\n";
    }
  }
  return body;
}

std::string preview_from_run(const RunFiles& r, const std::string& label = "") {
  if (r.preview.empty()) {
    return note("No preview.png" + (label.empty() ? "" : " for " + label) +
                ": the run had no augment: list (or predates previews).");
  }
  if (!is_png(r.preview)) return note((r.dir / "preview.png").string() + " is not a PNG file: left out.");
  return "<figure>" + png_img(r.preview, "augmentation preview " + label) + "<figcaption>" +
         html_escape((label.empty() ? "" : label + ": ") +
                     "rows top to bottom: originals x, augmented views x', perturbed views x'' (when the recipe "
                     "perturbs); column i is the same training image.") +
         "</figcaption></figure>\n";
}

// ---- ablation -----------------------------------------------------------------------------

struct Arm {
  std::string name;
  json metrics;  // metric -> {mean, std, n, values}
  RunFiles first;  // the arm's first run (may hold nothing)
};

// The arm's first run directory: as written (relative to the working directory), else relative to
// the ablation folder (as written, then below the ablation's recorded output folder, then ARM/sSEED).
fs::path resolve_run_dir(const fs::path& abl, const json& results, const json& run) {
  const fs::path dir = str(run, "dir");
  if (dir.empty()) return {};
  std::vector<fs::path> cand{dir, abl / dir};
  const fs::path out = str(results, "out");
  if (!out.empty()) {
    const auto rel = dir.lexically_relative(out);
    if (!rel.empty() && *rel.begin() != "..") cand.push_back(abl / rel);
  }
  if (dir.has_parent_path()) cand.push_back(abl / dir.parent_path().filename() / dir.filename());
  for (const auto& c : cand) {
    std::error_code ec;
    if (fs::is_directory(c, ec)) return c;
  }
  return {};
}

std::string ci_text(double lo, double hi) { return "[" + fmt(lo, "%+.4f") + ", " + fmt(hi, "%+.4f") + "]"; }

std::string ablation_table(const json& res, const std::vector<Arm>& arms) {
  std::vector<std::string> keys;
  for (const auto& k : child(res, "metrics")) {
    if (k.is_string()) keys.push_back(k.get<std::string>());
  }
  std::string body;
  if (!(child(res, "complete").is_boolean() && child(res, "complete").get<bool>())) {
    body += "<p class=\"warn\">Incomplete: some runs of this ablation have not finished.</p>\n";
  }
  Table t{{"arm"}, {}};
  for (const auto& k : keys) t.head.push_back(metric_label(k));
  for (const auto& a : arms) {
    std::vector<std::string> row{a.name};
    for (const auto& k : keys) {
      const auto& m = child(a.metrics, k);
      if (!m.is_object()) {
        row.push_back("-");
        continue;
      }
      std::string cell = fmt(num(m, "mean"));
      if (std::isfinite(num(m, "std"))) cell += " ± " + fmt(num(m, "std"));
      cell += " (" + str(m, "n") + ")";
      row.push_back(cell);
    }
    t.rows.push_back(row);
  }
  body += "<p>Each cell: mean ± sample standard deviation (number of runs) over seeds.</p>\n" + t.html();

  // Means with their standard deviation per arm, for the headline metric.
  if (std::find(keys.begin(), keys.end(), "test_acc") != keys.end()) {
    Series s{"", {}, {}, {}};
    std::vector<std::string> names;
    for (const auto& a : arms) {
      names.push_back(a.name);
      s.y.push_back(num(child(a.metrics, "test_acc"), "mean"));
      s.err.push_back(num(child(a.metrics, "test_acc"), "std"));
    }
    body += figure(svg_bar_chart("Test accuracy per arm (mean ± std over seeds)", names, {s}, "test accuracy"));
  }

  const auto& cmp = child(res, "comparisons");
  const std::string base = str(res, "baseline");
  const double conf = std::isfinite(num(res, "confidence")) ? num(res, "confidence") : 0.95;
  const std::string level = fmt(100 * conf, "%g") + "%";
  if (!cmp.is_array() || cmp.empty()) {
    body += note("No comparisons against a baseline (they need a baseline arm and at least two seeds per arm).");
    return body;
  }
  Table c{{"versus", "metric", "difference", level + " CI", "p", "df"}, {}};
  std::map<std::string, Series> by_metric;  // metric -> difference per compared arm
  std::vector<std::string> versus;
  for (const auto& x : cmp) {
    const double p = num(x, "p");
    c.rows.push_back({str(x, "versus"), metric_label(str(x, "metric")), fmt(num(x, "diff"), "%+.4f"),
                      ci_text(num(x, "ci_low"), num(x, "ci_high")), p < 1e-4 ? "<1e-4" : fmt(p), fmt(num(x, "df"), "%.1f")});
    if (std::find(versus.begin(), versus.end(), str(x, "versus")) == versus.end()) versus.push_back(str(x, "versus"));
  }
  body += "<h3>" + html_escape(base) + " against each arm</h3>\n<p>Difference of means " + html_escape(base) +
          " − arm, its " + html_escape(level) +
          " confidence interval (Welch–Satterthwaite degrees of freedom) and Welch&#39;s two-sided p-value.</p>\n" +
          c.html(2);
  // The interval of the headline metric as error bars around the difference.
  Series d{"", {}, {}, {}};
  for (const auto& v : versus) {
    double diff = kNaN, half = kNaN;
    for (const auto& x : cmp) {
      if (str(x, "versus") == v && str(x, "metric") == "test_acc") {
        diff = num(x, "diff");
        half = (num(x, "ci_high") - num(x, "ci_low")) / 2;
      }
    }
    d.y.push_back(diff);
    d.err.push_back(half);
  }
  body += figure(svg_bar_chart("Test accuracy: " + base + " − arm, with the " + level + " interval", versus, {d},
                               "difference"));
  return body;
}

std::string ablation_noise(const std::vector<Arm>& arms) {
  std::vector<Series> ss;
  for (const auto& a : arms) {
    std::vector<std::pair<double, double>> xy;
    if (a.metrics.is_object()) {
      for (const auto& [k, v] : a.metrics.items()) {
        if (k.rfind("noise_acc@", 0) != 0) continue;
        try {
          xy.emplace_back(std::stod(k.substr(10)), num(v, "mean"));
        } catch (const std::exception&) {
          // not a sigma: left out
        }
      }
    }
    if (xy.empty()) continue;
    const double clean = num(child(a.metrics, "test_acc"), "mean");
    if (std::isfinite(clean)) xy.emplace_back(0.0, clean);
    std::sort(xy.begin(), xy.end());
    Series s{a.name, {}, {}, {}};
    for (const auto& [x, y] : xy) {
      s.x.push_back(x);
      s.y.push_back(y);
    }
    ss.push_back(s);
  }
  if (ss.empty()) return note("The ablation's runs measured no accuracy under noise (eval: noise_sigmas).");
  return figure(svg_line_chart("Accuracy under Gaussian noise (mean over seeds)", ss, "noise sigma", "accuracy")) +
         note("Sigma 0 is the clean test accuracy.");
}

std::string ablation_corruptions(const std::vector<Arm>& arms) {
  std::vector<std::string> names;
  std::vector<Series> ss;
  for (const auto& a : arms) {
    const auto& cs = child(child(a.first.eval, "corrupt"), "corruptions");
    if (!cs.is_object()) continue;
    for (const auto& [k, v] : cs.items()) {
      if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
    }
  }
  for (const auto& a : arms) {
    const auto& cs = child(child(a.first.eval, "corrupt"), "corruptions");
    if (!cs.is_object()) continue;
    Series s{a.name, {}, {}, {}};
    for (const auto& n : names) s.y.push_back(num(child(cs, n), "mean_accuracy"));
    ss.push_back(s);
  }
  if (ss.empty()) {
    return note("No corruption results in the arms' first runs: run `kdaug eval --suite corrupt` in them.");
  }
  const std::string who = ss.size() == 1 ? ss[0].name + "'s first run; the other arms have no eval.json"
                                          : "each arm's first run";
  return figure(svg_bar_chart("Mean accuracy per corruption (" + who + ")", names, ss, "accuracy",
                              std::max(720, 18 * static_cast<int>(names.size() * ss.size())), 360));
}

std::string ablation_agreement(const std::vector<Arm>& arms) {
  Series s{"", {}, {}, {}};
  std::vector<std::string> names;
  for (const auto& a : arms) {
    const auto& m = child(a.metrics, "teacher_agreement");
    if (!m.is_object()) continue;
    names.push_back(a.name);
    s.y.push_back(num(m, "mean"));
    s.err.push_back(num(m, "std"));
  }
  if (names.empty()) return note("No arm of this ablation has a teacher: no agreement to show.");
  return figure(svg_bar_chart("Agreement of student and teacher predictions (mean ± std over seeds)", names, {s},
                              "agreement")) +
         note("Arms without a teacher are left out.");
}

// Sections of one arm's first run each, one after the other (or the note when none has it).
template <typename F>
std::string per_arm(const std::vector<Arm>& arms, F f, const std::string& missing) {
  std::string body;
  bool any = false;
  for (const auto& a : arms) {
    if (!a.first.any() && a.first.eval.is_null() && a.first.preview.empty()) continue;
    const auto part = f(a);
    if (part.empty()) continue;
    body += "<h3>" + html_escape(a.name) + "</h3>\n" + part;
    any = true;
  }
  return any ? body : note(missing);
}

// ---- page ---------------------------------------------------------------------------------

const char* const kStyle = R"(
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
nav a { margin-right: 0.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.note { color: #666; font-style: italic; }
.warn { color: #a33; font-weight: bold; }
.row { display: flex; flex-wrap: wrap; gap: 1em; }
.figure { margin: 0.5em 0; }
img.preview { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
)";

std::string page(const std::string& title, const std::vector<std::pair<std::string, std::string>>& sections) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                    html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
                    html_escape(title) + "</h1>\n<nav>";
  const auto& ids = report_section_ids();
  for (size_t i = 0; i < ids.size(); ++i) {
    out += "<a href=\"#" + ids[i] + "\">" + html_escape(sections[i].first) + "</a>";
  }
  out += "</nav>\n";
  for (size_t i = 0; i < ids.size(); ++i) out += section(ids[i], sections[i].first, sections[i].second);
  out += "<footer><p class=\"note\">Written by kdaug report.</p></footer>\n</body>\n</html>\n";
  return out;
}

// Section titles in report_section_ids() order.
const std::vector<std::string>& titles() {
  static const std::vector<std::string> t{"Overview",    "Training curves", "Ablation",
                                          "Noise sweep", "Corruptions",     "Reliability",
                                          "Confusion matrix", "Teacher / student agreement", "Augmentation preview"};
  return t;
}

std::vector<std::pair<std::string, std::string>> named(const std::vector<std::string>& bodies) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < bodies.size(); ++i) out.emplace_back(titles()[i], bodies[i]);
  return out;
}

std::string run_report(const RunFiles& r) {
  const std::vector<std::string> bodies{
      run_overview(r),
      run_curves(r),
      note("This is a single run, not an ablation: `kdaug report` on a `kdaug ablate` output folder shows the table."),
      noise_from_run(r),
      corruptions_from_run(r),
      reliability_from_run(r),
      confusion_from_run(r),
      agreement_from_run(r),
      preview_from_run(r)};
  std::string name = model_name(r);
  return page("kdaug report: " + r.dir.filename().string() + (name.empty() ? "" : " (" + name + ")"), named(bodies));
}

std::string ablation_report(const fs::path& dir, const json& res) {
  KDAUG_CHECK(res.is_object(), "report: ", (dir / "results.json").string(), " is not a JSON object");
  std::vector<Arm> arms;
  const auto& ja = child(res, "arms");
  if (ja.is_array()) {
    for (const auto& a : ja) {
      Arm arm;
      arm.name = str(a, "name");
      arm.metrics = child(a, "metrics");
      const auto& runs = child(a, "runs");
      if (runs.is_array() && !runs.empty()) {
        const auto d = resolve_run_dir(dir, res, runs[0]);
        if (!d.empty()) arm.first = read_run(d);
      }
      arms.push_back(arm);
    }
  }
  // Overview.
  Table t{{"", ""}, {}};
  auto add = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) t.rows.push_back({k, v});
  };
  add("directory", dir.string());
  add("ablation", str(res, "ablation"));
  add("source", str(res, "source"));
  std::string seeds;
  for (const auto& s : child(res, "seeds")) seeds += (seeds.empty() ? "" : ", ") + s.dump();
  add("seeds", seeds);
  std::string sets;
  for (const auto& s : child(res, "set")) sets += (sets.empty() ? "" : ", ") + (s.is_string() ? s.get<std::string>() : s.dump());
  add("shared overrides", sets);
  add("baseline", str(res, "baseline"));
  add("confidence", fmt(num(res, "confidence"), "%g"));
  add("complete", str(res, "complete"));
  const auto& prov = child(res, "provenance");
  if (prov.is_object()) {
    add("kdaug", str(prov, "kdaug_version") + " (git " + str(prov, "git_commit") + "), LibTorch " +
                     str(prov, "libtorch_version"));
  }
  Table at{{"arm", "recipe", "runs", "first run directory"}, {}};
  for (size_t i = 0; i < arms.size(); ++i) {
    const auto& a = ja[i];
    at.rows.push_back({arms[i].name, str(a, "recipe"), std::to_string(child(a, "runs").size()),
                       arms[i].first.dir.empty() ? "(not found)" : arms[i].first.dir.string()});
  }
  const std::string overview = t.html(2) + at.html(4);

  // Training curves: validation accuracy and training loss of every arm's first run.
  std::vector<Series> acc, loss;
  for (const auto& a : arms) {
    if (a.first.metrics.empty()) continue;
    Series sa{a.name, {}, {}, {}}, sl{a.name, {}, {}, {}};
    for (size_t i = 0; i < a.first.metrics.size(); ++i) {
      const auto& m = a.first.metrics[i];
      const double e = std::isfinite(num(m, "epoch")) ? num(m, "epoch") : static_cast<double>(i + 1);
      sa.x.push_back(e);
      sl.x.push_back(e);
      sa.y.push_back(num(m, "val_acc"));
      sl.y.push_back(num(m, "train_loss"));
    }
    acc.push_back(sa);
    loss.push_back(sl);
  }
  const std::string curves =
      acc.empty() ? note("No metrics.jsonl in the arms' run directories: no training curves.")
                  : "<div class=\"row\">" +
                        figure(svg_line_chart("Validation accuracy (each arm's first run)", acc, "epoch", "accuracy")) +
                        figure(svg_line_chart("Training loss (each arm's first run)", loss, "epoch", "loss")) +
                        "</div>\n";

  const std::vector<std::string> bodies{
      overview,
      curves,
      ablation_table(res, arms),
      ablation_noise(arms),
      ablation_corruptions(arms),
      per_arm(arms,
              [](const Arm& a) { return a.first.eval.is_null() ? std::string() : reliability_from_run(a.first, a.name); },
              "No eval.json in the arms' first runs: run `kdaug eval --suite calib` in them."),
      per_arm(arms,
              [](const Arm& a) {
                return child(a.first.eval, "clean").is_object() ? confusion_from_run(a.first) : std::string();
              },
              "No eval.json with a confusion matrix in the arms' first runs: run `kdaug eval` in them."),
      ablation_agreement(arms),
      per_arm(arms, [](const Arm& a) { return a.first.preview.empty() ? std::string() : preview_from_run(a.first, a.name); },
              "No preview.png in the arms' first runs (arms without augmentation have none).")};
  return page("kdaug ablation report: " + (str(res, "ablation").empty() ? dir.filename().string() : str(res, "ablation")),
              named(bodies));
}

}  // namespace

std::string html_report(const std::string& dir) {
  KDAUG_CHECK(!dir.empty(), "report: no directory given");
  std::error_code ec;
  KDAUG_CHECK(fs::is_directory(dir, ec), "report: ", dir, " is not a directory");
  const fs::path d(dir);
  if (fs::exists(d / "results.json")) return ablation_report(d, read_json(d / "results.json"));
  const auto r = read_run(d);
  KDAUG_CHECK(r.any(), "report: ", dir,
              " holds neither results.json (kdaug ablate) nor run.json, metrics.jsonl or summary.json (a run "
              "directory)");
  return run_report(r);
}

}  // namespace kdaug::report
