#include "kdaug/report/ablation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "kdaug/core/config.h"
#include "kdaug/core/error.h"
#include "kdaug/report/stats.h"

namespace kdaug::report {

using config::check_keys;
using config::get;

Ablation parse_ablation(const YAML::Node& root, const std::string& source) {
  Ablation a;
  a.source = source;
  try {
    KDAUG_CHECK(root && root.IsMap(), "expected a map with arms: at the top level");
    check_keys(root, {"name", "seeds", "set", "arms", "baseline", "confidence"}, "");
    a.name = get<std::string>(root, "name", a.name, "");
    KDAUG_CHECK(!a.name.empty() && a.name.find('/') == std::string::npos, "name: must be a non-empty word without '/', got '",
                a.name, "'");
    if (root["seeds"]) {
      const auto s = root["seeds"];
      KDAUG_CHECK(s.IsSequence() && s.size() > 0, "seeds: expected a non-empty list of integers, got '", YAML::Dump(s),
                  "'");
      a.seeds.clear();
      for (const auto& v : s) {
        uint64_t seed = 0;
        try {
          seed = v.as<uint64_t>();
        } catch (const YAML::Exception&) {
          KDAUG_FAIL("seeds: expected non-negative integers, got '", YAML::Dump(v), "'");
        }
        KDAUG_CHECK(std::find(a.seeds.begin(), a.seeds.end(), seed) == a.seeds.end(), "seeds: ", seed,
                    " is listed twice");
        a.seeds.push_back(seed);
      }
    }
    a.sets = get<std::vector<std::string>>(root, "set", {}, "");
    for (const auto& s : a.sets)
      KDAUG_CHECK(s.find('=') != std::string::npos && s.front() != '=', "set: expected key.path=value, got '", s, "'");
    a.confidence = get<double>(root, "confidence", a.confidence, "");
    KDAUG_CHECK(a.confidence > 0 && a.confidence < 1, "confidence: must be in (0,1), got ", a.confidence);

    const auto arms = root["arms"];
    KDAUG_CHECK(arms && arms.IsSequence() && arms.size() > 0,
                "arms: expected a non-empty list of {name, recipe, set} maps");
    std::set<std::string> names;
    for (size_t i = 0; i < arms.size(); ++i) {
      const std::string where = "arms[" + std::to_string(i) + "]";
      const auto n = arms[i];
      check_keys(n, {"name", "recipe", "set"}, where);
      KDAUG_CHECK(n.IsMap(), where, ": expected a map {name, recipe, set}, got '", YAML::Dump(n), "'");
      AblationArm arm;
      arm.name = get<std::string>(n, "name", "", where);
      arm.recipe = get<std::string>(n, "recipe", "", where);
      arm.sets = get<std::vector<std::string>>(n, "set", {}, where);
      KDAUG_CHECK(!arm.name.empty(), where, ".name: required");
      KDAUG_CHECK(arm.name.find('/') == std::string::npos && arm.name != "." && arm.name != "..", where,
                  ".name: must not contain '/' or be . or .. (it names a folder), got '", arm.name, "'");
      KDAUG_CHECK(names.insert(arm.name).second, where, ".name: arm '", arm.name, "' is listed twice");
      KDAUG_CHECK(!arm.recipe.empty(), where, ".recipe: required (the recipe file of arm ", arm.name, ")");
      for (const auto& s : arm.sets)
        KDAUG_CHECK(s.find('=') != std::string::npos && s.front() != '=', where, ".set: expected key.path=value, got '",
                    s, "'");
      a.arms.push_back(arm);
    }
    if (root["baseline"]) {
      a.baseline = get<std::string>(root, "baseline", "", "");
      if (!names.count(a.baseline)) {
        std::vector<std::string> known(names.begin(), names.end());
        const auto guess = config::closest(a.baseline, known);
        KDAUG_FAIL("baseline: '", a.baseline, "' is not an arm", guess.empty() ? "" : " (did you mean " + guess + "?)");
      }
    } else {
      a.baseline = names.count("synergy") ? "synergy" : a.arms.back().name;
    }
  } catch (const Error& e) {
    if (source.empty()) throw;
    KDAUG_FAIL("ablation ", source, ": ", e.what());
  }
  return a;
}

Ablation load_ablation(const std::string& path) {
  return parse_ablation(config::load_file(path), path);
}

Ablation default_ablation(const std::string& recipe_dir) {
  Ablation a;
  a.name = "fmnist-ablation";
  const std::string d = recipe_dir.empty() || recipe_dir.back() == '/' ? recipe_dir : recipe_dir + "/";
  a.arms = {{"ce", d + "ce.yaml", {}},
            {"ce+da", d + "ce_da.yaml", {}},
            {"kd", d + "kd.yaml", {}},
            {"kd+da", d + "kd_da.yaml", {}},
            {"synergy", d + "synergy.yaml", {}}};
  a.baseline = "synergy";
  return a;
}

std::vector<std::pair<std::string, double>> run_metrics(const nlohmann::json& summary) {
  KDAUG_CHECK(summary.is_object() && summary.contains("student") && summary["student"].is_object(),
              "run summary: expected an object with a student section");
  const auto& s = summary["student"];
  std::vector<std::pair<std::string, double>> m;
  for (const char* k : {"test_acc", "test_nll"}) {
    KDAUG_CHECK(s.contains(k) && s[k].is_number(), "run summary: student.", k, " missing or not a number");
    m.emplace_back(k, s[k].get<double>());
  }
  if (s.contains("noise_acc") && s["noise_acc"].is_object()) {
    // Sort the sigmas numerically (JSON objects keep keys in text order: "0.05" < "0.1" < "0.2" happens to
    // hold, "1e-05" would not).
    std::vector<std::pair<double, std::string>> sig;
    for (const auto& [k, v] : s["noise_acc"].items()) sig.emplace_back(std::stod(k), k);
    std::sort(sig.begin(), sig.end());
    for (const auto& [x, k] : sig) m.emplace_back("noise_acc@" + k, s["noise_acc"][k].get<double>());
  }
  if (s.contains("teacher_agreement") && s["teacher_agreement"].is_number())
    m.emplace_back("teacher_agreement", s["teacher_agreement"].get<double>());
  return m;
}

std::string metric_label(const std::string& key) {
  if (key == "test_acc") return "test acc";
  if (key == "test_nll") return "test NLL";
  if (key == "teacher_agreement") return "teacher agreement";
  if (key.rfind("noise_acc@", 0) == 0) return "acc, noise sigma " + key.substr(10);
  return key;
}

namespace {
nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json ablation_results(const Ablation& a, const std::vector<ArmRuns>& runs, bool complete) {
  nlohmann::json j;
  j["ablation"] = a.name;
  j["source"] = a.source;
  j["seeds"] = a.seeds;
  j["set"] = a.sets;
  j["baseline"] = a.baseline;
  j["confidence"] = a.confidence;
  j["complete"] = complete;

  // Metric order: first seen, across arms in table order (the teacher agreement only exists for arms with a teacher).
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, std::vector<double>>> values;  // arm -> metric -> per seed
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& arm : runs) {
    KDAUG_CHECK(arm.seeds.size() == arm.summaries.size() && arm.dirs.size() == arm.summaries.size(), "arm ", arm.name,
                ": ", arm.seeds.size(), " seeds, ", arm.dirs.size(), " directories and ", arm.summaries.size(),
                " summaries");
    nlohmann::json ja;
    ja["name"] = arm.name;
    for (const auto& d : a.arms)
      if (d.name == arm.name) ja["recipe"] = d.recipe;
    ja["runs"] = nlohmann::json::array();
    auto& vals = values[arm.name];
    for (size_t i = 0; i < arm.summaries.size(); ++i) {
      nlohmann::json m = nlohmann::json::object();
      for (const auto& [k, v] : run_metrics(arm.summaries[i])) {
        m[k] = v;
        vals[k].push_back(v);
        if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
      }
      ja["runs"].push_back({{"seed", arm.seeds[i]}, {"dir", arm.dirs[i]}, {"metrics", m}});
    }
    nlohmann::json stats = nlohmann::json::object();
    for (const auto& [k, v] : vals) {
      stats[k] = {{"mean", mean(v)},
                  {"std", v.size() >= 2 ? nlohmann::json(sample_std(v)) : nlohmann::json(nullptr)},
                  {"n", v.size()},
                  {"values", v}};
    }
    ja["metrics"] = stats;
    arms.push_back(ja);
  }
  j["metrics"] = order;
  j["arms"] = arms;

  nlohmann::json cmp = nlohmann::json::array();
  if (!a.baseline.empty() && values.count(a.baseline)) {
    const auto& base = values[a.baseline];
    for (const auto& arm : runs) {
      if (arm.name == a.baseline) continue;
      for (const auto& k : order) {
        const auto it = values[arm.name].find(k);
        const auto bt = base.find(k);
        if (it == values[arm.name].end() || bt == base.end() || it->second.size() < 2 || bt->second.size() < 2)
          continue;
        const auto w = welch_test(bt->second, it->second, a.confidence);
        cmp.push_back({{"arm", a.baseline},
                       {"versus", arm.name},
                       {"metric", k},
                       {"diff", w.diff},
                       {"ci_low", w.ci_low},
                       {"ci_high", w.ci_high},
                       {"p", w.p},
                       {"t", number_or_null(w.t)},
                       {"df", w.df},
                       {"n", {w.n_a, w.n_b}}});
      }
    }
  }
  j["comparisons"] = cmp;
  return j;
}

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}
std::string fmt_p(double p) {
  return p < 1e-4 ? "<1e-4" : fmt("%.4f", p);
}
}  // namespace

std::string results_markdown(const nlohmann::json& r) {
  std::string out = "# Ablation " + r.at("ablation").get<std::string>() + "\n\n";
  std::string seeds;
  for (const auto& s : r.at("seeds")) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s.get<uint64_t>());
  out += "Seeds " + seeds + "; each cell is mean +- sample std (n runs) over seeds.";
  if (!r.at("complete").get<bool>()) out += " **Incomplete: some runs have not finished yet.**";
  out += "\n\n";
  const auto& metrics = r.at("metrics");
  out += "| arm |";
  std::string rule = "| --- |";
  for (const auto& k : metrics) {
    out += " " + metric_label(k.get<std::string>()) + " |";
    rule += " ---: |";
  }
  out += "\n" + rule + "\n";
  for (const auto& arm : r.at("arms")) {
    out += "| " + arm.at("name").get<std::string>() + " |";
    for (const auto& k : metrics) {
      const auto key = k.get<std::string>();
      if (!arm.at("metrics").contains(key)) {
        out += " - |";
        continue;
      }
      const auto& m = arm.at("metrics")[key];
      out += " " + fmt("%.4f", m.at("mean").get<double>());
      if (!m.at("std").is_null()) out += " +- " + fmt("%.4f", m.at("std").get<double>());
      out += " (" + std::to_string(m.at("n").get<int64_t>()) + ") |";
    }
    out += "\n";
  }
  const auto& cmp = r.at("comparisons");
  if (!cmp.empty()) {
    const std::string base = r.at("baseline").get<std::string>();
    const std::string level = fmt("%g", 100 * r.at("confidence").get<double>());
    out += "\n## " + base + " against each arm\n\n";
    out += "Difference of means " + base + " - arm, its " + level +
           "% confidence interval (t quantile at the Welch–Satterthwaite df) and Welch's two-sided p-value.\n\n";
    out += "| versus | metric | difference | " + level + "% CI | p | df |\n| --- | --- | ---: | ---: | ---: | ---: |\n";
    for (const auto& c : cmp) {
      out += "| " + c.at("versus").get<std::string>() + " | " + metric_label(c.at("metric").get<std::string>()) + " | " +
             fmt("%+.4f", c.at("diff").get<double>()) + " | [" + fmt("%+.4f", c.at("ci_low").get<double>()) + ", " +
             fmt("%+.4f", c.at("ci_high").get<double>()) + "] | " + fmt_p(c.at("p").get<double>()) + " | " +
             fmt("%.1f", c.at("df").get<double>()) + " |\n";
    }
  }
  return out;
}

}  // namespace kdaug::report
