// kdaug eval: a checkpoint on the test set under a suite of measurements (clean accuracy,
// noise sweep, corruptions + mCE, FGSM/PGD, calibration, teacher fidelity, cost); writes
// eval.json and prints one Markdown table per family.
#include <CLI/CLI.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>

#include "kdaug/common.h"
#include "kdaug/core/io.h"
#include "kdaug/eval/adversarial.h"
#include "kdaug/eval/calibration.h"
#include "kdaug/eval/corruptions.h"
#include "kdaug/eval/cost.h"
#include "kdaug/eval/fidelity.h"
#include "kdaug/eval/metrics.h"
#include "kdaug/eval/noise.h"
#include "kdaug/models/checkpoint.h"

namespace fs = std::filesystem;

namespace kdaug::cli {
namespace {

// The suite's families, in the order they run and print.
const std::vector<std::string> kFamilies{"clean", "noise", "corrupt", "adv", "calib", "fidelity", "cost"};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The requested families in kFamilies order. "all" = every family.
std::set<std::string> parse_suite(const std::string& suite) {
  const auto items = split_list(suite);
  KDAUG_CHECK(!items.empty(), "--suite: empty, expected a comma list of ", join(kFamilies), " or all");
  std::set<std::string> out;
  for (const auto& it : items) {
    if (it == "all") {
      out.insert(kFamilies.begin(), kFamilies.end());
      continue;
    }
    KDAUG_CHECK(std::find(kFamilies.begin(), kFamilies.end(), it) != kFamilies.end(), "--suite: unknown suite '", it,
                "' (known: ", join(kFamilies), ", all)");
    out.insert(it);
  }
  return out;
}

std::string fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// A checkpoint that must read the same images as the evaluated model.
models::LoadedModel load_companion(const std::string& path, const std::string& flag, const models::ModelSpec& spec,
                                   c10::Device device) {
  auto m = models::load_model(path, device);
  KDAUG_CHECK(m.spec.num_classes == spec.num_classes, flag, " ", path, " has ", m.spec.num_classes,
              " classes but the checkpoint has ", spec.num_classes);
  KDAUG_CHECK(m.spec.in_channels == spec.in_channels && m.spec.height == spec.height && m.spec.width == spec.width,
              flag, " ", path, " expects ", m.spec.in_channels, "x", m.spec.height, "x", m.spec.width,
              " images but the checkpoint ", spec.in_channels, "x", spec.height, "x", spec.width);
  return m;
}

std::string noise_table(const eval::NoiseSweepReport& r) {
  std::ostringstream o;
  o << "| sigma | accuracy | NLL |\n| ---: | ---: | ---: |\n";
  for (const auto& p : r.points) o << "| " << fmt(p.sigma, 2) << " | " << fmt(p.accuracy) << " | " << fmt(p.nll) << " |\n";
  return o.str();
}

std::string corruption_table(const eval::CorruptionReport& r, const eval::McEReport* mce) {
  std::ostringstream o;
  o << "| corruption |";
  for (int s : r.severities) o << " s" << s << " |";
  o << " mean |" << (mce ? " CE |" : "") << "\n| --- |";
  for (size_t i = 0; i < r.severities.size(); ++i) o << " ---: |";
  o << " ---: |" << (mce ? " ---: |" : "") << "\n";
  for (const auto& c : r.results) {
    o << "| " << c.name << " |";
    for (double a : c.accuracy) o << " " << fmt(a) << " |";
    o << " " << fmt(c.mean_accuracy) << " |";
    if (mce) o << " " << fmt(mce->ce.at(c.name), 3) << " |";
    o << "\n";
  }
  o << "\nclean accuracy " << fmt(r.clean_accuracy) << ", mean corruption accuracy " << fmt(r.mean_accuracy);
  if (mce) o << ", mCE " << fmt(mce->mce, 3) << " (baseline = 1)";
  o << "\n";
  return o.str();
}

std::string adversarial_table(const eval::AdversarialReport& r) {
  std::ostringstream o;
  o << "| attack | eps (/255) | steps | restarts | robust accuracy |\n| --- | ---: | ---: | ---: | ---: |\n";
  o << "| none | 0 | - | - | " << fmt(r.clean_accuracy) << " |\n";
  for (const auto& a : r.results) {
    o << "| " << a.attack << " | " << fmt(a.eps * 255, 1) << " | " << a.steps << " | " << a.restarts << " | "
      << fmt(a.accuracy) << " |\n";
  }
  return o.str();
}

std::string calibration_table(const eval::CalibrationReport& r) {
  std::ostringstream o;
  o << "| | temperature | ECE | NLL | accuracy |\n| --- | ---: | ---: | ---: | ---: |\n";
  auto row = [&](const char* name, const eval::CalibrationStats& s) {
    o << "| " << name << " | " << fmt(s.temperature, 3) << " | " << fmt(s.ece) << " | " << fmt(s.nll) << " | "
      << fmt(s.accuracy) << " |\n";
  };
  row("before", r.before);
  if (r.fitted) row("after temperature scaling", r.after);
  o << "\n" << r.before.bins.size() << " equal-width bins; "
    << (r.fitted ? "temperature fitted on " + std::to_string(r.fit_n) + " validation images"
                 : std::string("no validation set (--val-size 0): temperature not fitted"))
    << "\n";
  return o.str();
}

std::string cost_table(const eval::CostReport& r) {
  std::ostringstream o;
  o << "| params | MACs / image | checkpoint bytes | threads | device |\n| ---: | ---: | ---: | ---: | --- |\n| "
    << r.params << " | " << (r.macs >= 0 ? std::to_string(r.macs) : "-") << " | "
    << (r.checkpoint_bytes >= 0 ? std::to_string(r.checkpoint_bytes) : "-") << " | " << r.threads << " | " << r.device
    << " |\n\n| batch | median ms | ms / image | images / s | runs |\n| ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& l : r.latency) {
    o << "| " << l.batch_size << " | " << fmt(l.median_ms, 3) << " | " << fmt(l.per_image_ms, 4) << " | "
      << fmt(l.images_per_s, 1) << " | " << l.runs << " |\n";
  }
  return o.str();
}

// glibc returns freed memory above M_TRIM_THRESHOLD to the kernel and serves blocks above
// M_MMAP_THRESHOLD with fresh mmaps; both adapt to the largest block freed so far. With the
// eval loops' few-MB activations and corrupted batches that meant ~2,000 brk calls per 10,000
// images, every page faulted in anew: a third of the run was system time (resnet8, one thread:
// noise sweep 26.0 s, 12 s of it system, vs 13.2 s and 0.2 s with these settings). Keeping up
// to 512 MB of freed memory in the heap is nothing next to what the evaluation reads.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc accepts on 64-bit
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

}  // namespace

void add_eval_options(CLI::App& e, EvalArgs& a) {
  e.add_option("--checkpoint", a.checkpoint, "checkpoint to evaluate")->required();
  e.add_option("--suite", a.suite, "comma list of clean, noise, corrupt, adv, calib, fidelity, cost, or all")
      ->capture_default_str();
  e.add_option("--teacher", a.teacher, "teacher checkpoint (fidelity: agreement and KL)");
  e.add_option("--baseline", a.baseline, "baseline checkpoint: corruption errors relative to it (mCE)");
  e.add_option("--json", a.json_out, "where to write eval.json (default: beside the checkpoint)");
  e.add_option("--batch-size", a.batch_size, "images corrupted, noised or attacked together (decides the random draws; on the CPU the model takes 64 at a time)")->capture_default_str();
  e.add_option("--noise-sigmas", a.noise_sigmas, "noise sweep: std of the Gaussian noise on [0,1] images")
      ->capture_default_str();
  e.add_option("--corruptions", a.corruptions, "corruptions to run (default: all 21)");
  e.add_option("--severities", a.severities, "corruption severities (1..5)")->capture_default_str();
  e.add_option("--corrupt-limit", a.corrupt_limit, "corruptions on the first N test images (0 = all)")
      ->capture_default_str();
  e.add_option("--adv-eps", a.adv_eps, "attack radii in grey levels (x/255)")->capture_default_str();
  e.add_option("--attacks", a.attacks, "fgsm, pgd or fgsm,pgd")->capture_default_str();
  e.add_option("--pgd-steps", a.pgd_steps, "PGD steps")->capture_default_str();
  e.add_option("--pgd-restarts", a.pgd_restarts, "PGD restarts (the worst case per image is kept)")
      ->capture_default_str();
  e.add_flag("--no-random-start", a.no_random_start, "PGD starts from the clean image");
  e.add_option("--adv-limit", a.adv_limit, "attacks on the first N test images (0 = all)")->capture_default_str();
  e.add_option("--bins", a.bins, "calibration bins (ECE)")->capture_default_str();
}

int cmd_eval(const EvalArgs& a, const Io& io) {
  // Options first: a typo fails before any model or dataset is read.
  const auto suite = parse_suite(a.suite);
  const auto has = [&](const char* f) { return suite.count(f) > 0; };
  KDAUG_CHECK(a.batch_size > 0, "--batch-size must be > 0, got ", a.batch_size);
  KDAUG_CHECK(a.corrupt_limit >= 0, "--corrupt-limit must be >= 0, got ", a.corrupt_limit);
  KDAUG_CHECK(a.adv_limit >= 0, "--adv-limit must be >= 0, got ", a.adv_limit);
  KDAUG_CHECK(a.bins >= 1, "--bins must be >= 1, got ", a.bins);
  const auto attacks = split_list(a.attacks);
  for (const auto& at : attacks) {
    KDAUG_CHECK(at == "fgsm" || at == "pgd", "--attacks: unknown attack '", at, "' (known: fgsm, pgd)");
  }
  KDAUG_CHECK(!has("adv") || !attacks.empty(), "--attacks: no attack given");
  for (double eps : a.adv_eps) KDAUG_CHECK(std::isfinite(eps) && eps >= 0, "--adv-eps must be >= 0, got ", eps);
  const auto named = split_list(a.suite);
  const bool explicit_fidelity = std::find(named.begin(), named.end(), "fidelity") != named.end();
  KDAUG_CHECK(!explicit_fidelity || !a.teacher.empty(), "--suite fidelity needs --teacher CHECKPOINT");

  keep_freed_memory();
  const auto device = setup_runtime(a.rt, io);
  auto loaded = models::load_model(a.checkpoint, device);
  const auto& spec = loaded.spec;
  auto& model = *loaded.model;
  // The validation split (temperature fitting) must be the one the model was NOT trained on:
  // by default it is drawn with the seed the checkpoint was trained with.
  uint64_t split_seed = a.rt.seed;
  if (!a.seed_given && loaded.meta.is_object() && loaded.meta.contains("seed") &&
      loaded.meta["seed"].is_number_integer() && loaded.meta["seed"].get<int64_t>() >= 0) {
    split_seed = loaded.meta["seed"].get<uint64_t>();
  }
  auto splits = load_data(a.data, split_seed);
  const auto& test = splits.test;
  KDAUG_CHECK(test.channels() == spec.in_channels && test.num_classes == spec.num_classes,
              "checkpoint ", a.checkpoint, " expects ", spec.in_channels, "-channel images and ", spec.num_classes,
              " classes, but dataset ", a.data.dataset, " has ", test.channels(), " and ", test.num_classes);
  std::unique_ptr<models::LoadedModel> teacher, baseline;
  if (has("fidelity") && !a.teacher.empty()) {
    teacher = std::make_unique<models::LoadedModel>(load_companion(a.teacher, "--teacher", spec, device));
  }
  if (has("corrupt") && !a.baseline.empty()) {
    baseline = std::make_unique<models::LoadedModel>(load_companion(a.baseline, "--baseline", spec, device));
  }

  nlohmann::json j = {{"checkpoint", a.checkpoint}, {"model", spec.to_json()}, {"dataset", a.data.dataset},
                      {"test_n", test.size()}};
  nlohmann::json seconds = nlohmann::json::object();
  nlohmann::json images = nlohmann::json::object();  // test images each family used (subsets: --*-limit)
  std::ostringstream md;
  md << "# " << spec.name << " on " << a.data.dataset << " test (" << test.size() << " images)\n";
  using clock = std::chrono::steady_clock;
  auto timed = [&](const std::string& family, const std::function<void()>& f) {
    const auto t0 = clock::now();
    f();
    seconds[family] = std::chrono::duration<double>(clock::now() - t0).count();
  };
  std::vector<std::string> ran;

  if (has("clean")) {
    timed("clean", [&] {
      eval::EvalOptions eo;
      eo.batch_size = a.batch_size;
      eo.progress = &io.log;
      eo.interactive = io.interactive;
      const auto report = eval::evaluate(model, test, eo);
      j["clean"] = eval::to_json(report);
      images["clean"] = report.n;
      md << "\n## Clean\n\n" << eval::to_markdown(report, test.class_names);
    });
    ran.push_back("clean");
  }
  if (has("noise")) {
    timed("noise", [&] {
      eval::NoiseSweepOptions o;
      o.sigmas = a.noise_sigmas;
      o.seed = a.rt.seed;
      o.batch_size = a.batch_size;
      o.progress = &io.log;
      o.interactive = io.interactive;
      const auto r = eval::noise_sweep(model, test, o);
      j["noise"] = eval::to_json(r);
      images["noise"] = r.n;
      md << "\n## Gaussian noise (" << r.n << " images)\n\n" << noise_table(r);
    });
    ran.push_back("noise");
  }
  if (has("corrupt")) {
    timed("corrupt", [&] {
      eval::CorruptionOptions o;
      for (const auto& item : a.corruptions) {  // "a,b" and "a b" both work
        for (const auto& name : split_list(item)) o.names.push_back(name);
      }
      o.severities = a.severities;
      o.seed = a.rt.seed;
      o.batch_size = a.batch_size;
      o.limit = a.corrupt_limit;
      o.progress = &io.log;
      o.interactive = io.interactive;
      std::vector<models::ClassifierImpl*> ms{&model};
      if (baseline) ms.push_back(baseline->model.get());
      const auto reports = eval::evaluate_corruptions(ms, test, o);
      j["corrupt"] = eval::to_json(reports[0]);
      images["corrupt"] = reports[0].n;
      std::unique_ptr<eval::McEReport> mce;
      if (baseline) {
        mce = std::make_unique<eval::McEReport>(eval::mean_corruption_error(reports[0], reports[1]));
        nlohmann::json ce = nlohmann::json::object();
        for (const auto& [name, v] : mce->ce) ce[name] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
        j["corrupt"]["baseline"] = {{"checkpoint", a.baseline}, {"report", eval::to_json(reports[1])}};
        j["corrupt"]["ce"] = ce;
        j["corrupt"]["mce"] = std::isfinite(mce->mce) ? nlohmann::json(mce->mce) : nlohmann::json();
      }
      md << "\n## Corruptions (" << reports[0].n << " images, accuracy per severity)\n\n"
         << corruption_table(reports[0], mce.get());
    });
    ran.push_back("corrupt");
  }
  if (has("adv")) {
    timed("adv", [&] {
      eval::AdversarialOptions o;
      o.eps.clear();
      for (double e : a.adv_eps) o.eps.push_back(e / 255.0);
      o.fgsm = std::find(attacks.begin(), attacks.end(), "fgsm") != attacks.end();
      o.pgd = std::find(attacks.begin(), attacks.end(), "pgd") != attacks.end();
      o.pgd_steps = a.pgd_steps;
      o.restarts = a.pgd_restarts;
      o.random_start = !a.no_random_start;
      o.seed = a.rt.seed;
      o.batch_size = a.batch_size;
      o.limit = a.adv_limit;
      o.progress = &io.log;
      o.interactive = io.interactive;
      const auto r = eval::evaluate_adversarial(model, test, o);
      j["adv"] = eval::to_json(r);
      images["adv"] = r.n;
      md << "\n## Adversarial, L-inf white-box (" << r.n << " images)\n\n" << adversarial_table(r);
    });
    ran.push_back("adv");
  }
  if (has("calib")) {
    timed("calib", [&] {
      eval::CalibrationOptions o;
      o.bins = a.bins;
      o.batch_size = a.batch_size;
      const bool have_val = splits.val.size() > 0;
      const auto r = eval::evaluate_calibration(model, test, have_val ? &splits.val : nullptr, o);
      j["calib"] = eval::to_json(r);
      images["calib"] = r.before.n;
      j["calib"]["split_seed"] = split_seed;
      md << "\n## Calibration (" << r.before.n << " images)\n\n" << calibration_table(r);
    });
    ran.push_back("calib");
  }
  if (has("fidelity")) {
    if (!teacher) {
      io.log << "eval: fidelity skipped (no --teacher)\n";
    } else {
      timed("fidelity", [&] {
        const auto r = eval::evaluate_fidelity(*teacher->model, model, test, a.batch_size);
        j["fidelity"] = eval::to_json(r);
        images["fidelity"] = r.n;
        j["fidelity"]["teacher"] = a.teacher;
        md << "\n## Fidelity to the teacher (" << r.n << " images)\n\n| teacher | agreement | KL(teacher || student) |\n"
           << "| --- | ---: | ---: |\n| " << teacher->spec.name << " | " << fmt(r.agreement) << " | " << fmt(r.kl)
           << " |\n";
      });
      ran.push_back("fidelity");
    }
  }
  if (has("cost")) {
    timed("cost", [&] {
      eval::CostOptions o;
      o.checkpoint = a.checkpoint;
      const auto r = eval::measure_cost(model, o);
      j["cost"] = eval::to_json(r);
      md << "\n## Cost\n\n" << cost_table(r);
    });
    ran.push_back("cost");
  }
  j["suite"] = ran;
  j["seconds"] = seconds;
  j["images"] = images;
  j["provenance"] = provenance();
  const std::string json_path =
      a.json_out.empty() ? (fs::path(a.checkpoint).parent_path() / "eval.json").string() : a.json_out;
  write_text_atomic(json_path, j.dump(2) + "\n");
  if (!images.empty()) {
    md << "\nTest images per family:";
    for (const auto& family : kFamilies) {
      if (!images.contains(family)) continue;
      const auto count = images[family].get<int64_t>();
      md << " " << family << " " << count << (count < test.size() ? " (the first)" : "") << ";";
    }
    md << " of " << test.size() << "\n";
  }
  io.out << md.str() << "\neval.json: " << json_path << "\n";
  return 0;
}

}  // namespace kdaug::cli
