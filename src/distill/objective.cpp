#include "kdaug/distill/objective.h"

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "kdaug/core/config.h"
#include "kdaug/core/error.h"
#include "kdaug/distill/dkd.h"
#include "kdaug/distill/features.h"

namespace kdaug::distill {
namespace {

const std::vector<std::string> kViews{"original", "augmented", "perturbed"};

// Rejects keys outside `allowed`, suggesting the nearest one (the recipe-wide helper).
void check_keys(const YAML::Node& node, const std::string& path,
                const std::vector<std::string>& allowed) {
  config::check_keys(node, allowed, path);
}

template <typename T>
T get(const YAML::Node& node, const std::string& path, const char* what) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    KDAUG_FAIL(path, ": expected ", what, ", got '", YAML::Dump(node), "'");
  }
}

double get_number(const YAML::Node& n, const std::string& path) { return get<double>(n, path, "a number"); }
std::string get_string(const YAML::Node& n, const std::string& path) {
  KDAUG_CHECK(n.IsScalar(), path, ": expected a string, got '", YAML::Dump(n), "'");
  return n.as<std::string>();
}

void require_map(const YAML::Node& n, const std::string& path) {
  KDAUG_CHECK(n.IsMap() || n.IsNull(), path, ": expected a map, got '", YAML::Dump(n), "'");
}

void parse_term(const YAML::Node& node, const std::string& path, TermSpec& t) {
  require_map(node, path);
  check_keys(node, path, {"view", "target", "distance", "temperature", "space", "label_smoothing",
                          "weight", "dkd_alpha", "dkd_beta"});
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string p = path + "." + key;
    const YAML::Node& v = kv.second;
    if (key == "view") t.view = get_string(v, p);
    else if (key == "target") t.target = get_string(v, p);
    else if (key == "distance") t.distance.kind(parse_distance(get_string(v, p), p));
    else if (key == "temperature") t.distance.temperature(get_number(v, p));
    else if (key == "space") t.distance.space(parse_space(get_string(v, p), p));
    else if (key == "label_smoothing") t.distance.label_smoothing(get_number(v, p));
    else if (key == "weight") t.weight = get_number(v, p);
    else if (key == "dkd_alpha") t.distance.dkd_alpha(get_number(v, p));
    else if (key == "dkd_beta") t.distance.dkd_beta(get_number(v, p));
  }
  // A KL/DKD term written without a temperature keeps the slot's default (4) only when the
  // slot's default distance was soft; a term switched to hard-label CE needs T = 1.
  if (node["target"] && t.target == "labels" && !node["temperature"]) t.distance.temperature(1.0);
}

std::vector<int64_t> get_indices(const YAML::Node& n, const std::string& path) {
  KDAUG_CHECK(n.IsSequence(), path, ": expected a list of tap indices, got '", YAML::Dump(n), "'");
  std::vector<int64_t> out;
  for (size_t i = 0; i < n.size(); ++i) {
    out.push_back(get<int64_t>(n[i], path + "[" + std::to_string(i) + "]", "an integer"));
  }
  return out;
}

bool known_view(const std::string& v) {
  return std::find(kViews.begin(), kViews.end(), v) != kViews.end();
}

void validate_term(const TermSpec& t, const std::string& path) {
  KDAUG_CHECK(known_view(t.view), path, ".view: unknown view '", t.view,
              "' (expected original, augmented or perturbed)");
  KDAUG_CHECK(t.target == "labels" || t.target == "teacher", path, ".target: unknown target '",
              t.target, "' (expected labels or teacher)");
  KDAUG_CHECK(std::isfinite(t.weight) && t.weight >= 0, path, ".weight: must be >= 0 and finite, got ",
              t.weight);
  validate(t.distance, path);
  if (t.target == "labels") {
    KDAUG_CHECK(t.distance.kind() == Distance::CE, path, ".distance: ",
                to_string(t.distance.kind()), " needs target teacher (labels take ce)");
    KDAUG_CHECK(t.distance.temperature() == 1.0, path,
                ".temperature: only used with target teacher, got ", t.distance.temperature());
  }
}

int64_t resolve_tap(int64_t index, size_t count, const std::string& path) {
  const int64_t n = static_cast<int64_t>(count);
  KDAUG_CHECK(index >= -n && index < n, path, ": tap index ", index, " out of range for ", n, " taps");
  return index < 0 ? index + n : index;
}

std::vector<at::Tensor> split_rows(const at::Tensor& t, int64_t parts) {
  if (parts == 1) return {t};
  return t.split_with_sizes(std::vector<int64_t>(parts, t.size(0) / parts), 0);
}

}  // namespace

// ---- ObjectiveSpec ----------------------------------------------------------------------

ObjectiveSpec ObjectiveSpec::from_yaml(const YAML::Node& node, const std::string& path) {
  KDAUG_CHECK(node.IsMap(), path, ": expected a map, got '", YAML::Dump(node), "'");
  check_keys(node, path, {"a", "original", "augmented", "perturbed", "hint", "attention",
                          "per_view_forward", "consistent_teacher"});
  ObjectiveSpec s;
  // Terms not listed are off, so that each recipe's block says exactly what is computed.
  s.original.weight = 0;
  s.augmented.weight = 0;
  s.perturbed.weight = 0;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string p = path + "." + key;
    const YAML::Node& v = kv.second;
    if (key == "a") {
      s.a = get_number(v, p);
    } else if (key == "original" || key == "augmented" || key == "perturbed") {
      TermSpec& t = key == "original" ? s.original : key == "augmented" ? s.augmented : s.perturbed;
      t.weight = 1.0;
      parse_term(v, p, t);
    } else if (key == "hint") {
      require_map(v, p);
      check_keys(v, p, {"weight", "view", "student_tap", "teacher_tap"});
      s.hint.weight = 1.0;
      if (v["weight"]) s.hint.weight = get_number(v["weight"], p + ".weight");
      if (v["view"]) s.hint.view = get_string(v["view"], p + ".view");
      if (v["student_tap"]) s.hint.student_tap = get<int64_t>(v["student_tap"], p + ".student_tap", "an integer");
      if (v["teacher_tap"]) s.hint.teacher_tap = get<int64_t>(v["teacher_tap"], p + ".teacher_tap", "an integer");
    } else if (key == "attention") {
      require_map(v, p);
      check_keys(v, p, {"weight", "view", "p", "student_taps", "teacher_taps"});
      s.attention.weight = 1.0;
      if (v["weight"]) s.attention.weight = get_number(v["weight"], p + ".weight");
      if (v["view"]) s.attention.view = get_string(v["view"], p + ".view");
      if (v["p"]) s.attention.p = get_number(v["p"], p + ".p");
      if (v["student_taps"]) s.attention.student_taps = get_indices(v["student_taps"], p + ".student_taps");
      if (v["teacher_taps"]) s.attention.teacher_taps = get_indices(v["teacher_taps"], p + ".teacher_taps");
    } else if (key == "per_view_forward") {
      s.per_view_forward = get<bool>(v, p, "true or false");
    } else if (key == "consistent_teacher") {
      s.consistent_teacher = get<bool>(v, p, "true or false");
    }
  }
  s.validate(path);
  return s;
}

ObjectiveSpec ObjectiveSpec::parse(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    KDAUG_FAIL("objective: invalid YAML: ", e.what());
  }
  if (root.IsMap() && root.size() == 1 && root["objective"]) return from_yaml(root["objective"]);
  return from_yaml(root);
}

void ObjectiveSpec::validate(const std::string& path) const {
  KDAUG_CHECK(std::isfinite(a) && a >= 0 && a <= 1, path, ".a: must be in [0, 1], got ", a);
  validate_term(original, path + ".original");
  validate_term(augmented, path + ".augmented");
  validate_term(perturbed, path + ".perturbed");
  KDAUG_CHECK(std::isfinite(hint.weight) && hint.weight >= 0, path,
              ".hint.weight: must be >= 0 and finite, got ", hint.weight);
  KDAUG_CHECK(known_view(hint.view), path, ".hint.view: unknown view '", hint.view, "'");
  KDAUG_CHECK(std::isfinite(attention.weight) && attention.weight >= 0, path,
              ".attention.weight: must be >= 0 and finite, got ", attention.weight);
  KDAUG_CHECK(known_view(attention.view), path, ".attention.view: unknown view '", attention.view, "'");
  KDAUG_CHECK(std::isfinite(attention.p) && attention.p > 0, path,
              ".attention.p: must be positive, got ", attention.p);
  KDAUG_CHECK(attention.student_taps.size() == attention.teacher_taps.size(), path,
              ".attention: student_taps and teacher_taps must have the same length, got ",
              attention.student_taps.size(), " and ", attention.teacher_taps.size());
  KDAUG_CHECK(original_weight() > 0 || augmented_weight() > 0 || perturbed_weight() > 0 ||
                  hint.weight > 0 || attention.weight > 0,
              path, ": every term has weight 0 (a = ", a, ")");
}

nlohmann::json ObjectiveSpec::to_json() const {
  auto term = [](const TermSpec& t) {
    const DistanceOptions& d = t.distance;
    nlohmann::json j{{"view", t.view}, {"target", t.target}, {"distance", to_string(d.kind())},
                     {"temperature", d.temperature()}, {"weight", t.weight}};
    if (d.kind() == Distance::L1 || d.kind() == Distance::L2) j["space"] = to_string(d.space());
    if (d.label_smoothing() > 0) j["label_smoothing"] = d.label_smoothing();
    if (d.kind() == Distance::DKD) {
      j["dkd_alpha"] = d.dkd_alpha();
      j["dkd_beta"] = d.dkd_beta();
    }
    return j;
  };
  return {{"a", a},
          {"original", term(original)},
          {"augmented", term(augmented)},
          {"perturbed", term(perturbed)},
          {"hint", {{"weight", hint.weight}, {"view", hint.view}, {"student_tap", hint.student_tap},
                    {"teacher_tap", hint.teacher_tap}}},
          {"attention", {{"weight", attention.weight}, {"view", attention.view}, {"p", attention.p},
                         {"student_taps", attention.student_taps},
                         {"teacher_taps", attention.teacher_taps}}},
          {"per_view_forward", per_view_forward},
          {"consistent_teacher", consistent_teacher}};
}

// ---- Objective --------------------------------------------------------------------------

Objective::Objective(ObjectiveSpec spec)
    : spec_(std::move(spec)), module_(std::make_shared<torch::nn::Module>("Objective")) {
  spec_.validate();
}

namespace {

struct ActiveTerm {
  std::string name;
  const TermSpec* spec;
  double weight;
};

std::vector<ActiveTerm> active_terms(const ObjectiveSpec& s) {
  std::vector<ActiveTerm> out;
  if (s.original_weight() > 0) out.push_back({"original", &s.original, s.original_weight()});
  if (s.augmented_weight() > 0) out.push_back({"augmented", &s.augmented, s.augmented_weight()});
  if (s.perturbed_weight() > 0) out.push_back({"perturbed", &s.perturbed, s.perturbed_weight()});
  return out;
}

}  // namespace

bool Objective::needs_features() const { return spec_.hint.weight > 0 || spec_.attention.weight > 0; }

bool Objective::needs_teacher() const {
  if (needs_features()) return true;
  for (const auto& t : active_terms(spec_)) {
    if (t.spec->target == "teacher") return true;
  }
  return false;
}

bool Objective::needs_labels() const {
  for (const auto& t : active_terms(spec_)) {
    if (t.spec->target == "labels" || t.spec->distance.kind() == Distance::DKD) return true;
  }
  return false;
}

std::vector<std::string> Objective::student_views() const {
  std::set<std::string> used;
  for (const auto& t : active_terms(spec_)) used.insert(t.spec->view);
  if (spec_.hint.weight > 0) used.insert(spec_.hint.view);
  if (spec_.attention.weight > 0) used.insert(spec_.attention.view);
  std::vector<std::string> out;
  for (const auto& v : kViews) {
    if (used.count(v)) out.push_back(v);
  }
  return out;
}

std::string Objective::teacher_view() const {
  if (!needs_teacher()) return "";
  if (!spec_.consistent_teacher) return "x_teacher";
  bool off_original = (spec_.hint.weight > 0 && spec_.hint.view != "original") ||
                      (spec_.attention.weight > 0 && spec_.attention.view != "original");
  for (const auto& t : active_terms(spec_)) {
    if (t.spec->target == "teacher" && t.spec->view != "original") off_original = true;
  }
  return off_original ? "x_aug" : "x";
}

void Objective::bind_features(const std::vector<int64_t>& student_channels,
                              const std::vector<int64_t>& teacher_channels, c10::Device device) {
  module_ = std::make_shared<torch::nn::Module>("Objective");
  hint_.reset();
  if (spec_.hint.weight > 0) {
    const int64_t si = resolve_tap(spec_.hint.student_tap, student_channels.size(), "objective.hint.student_tap");
    const int64_t ti = resolve_tap(spec_.hint.teacher_tap, teacher_channels.size(), "objective.hint.teacher_tap");
    Hint hint(HintOptions(student_channels[si], teacher_channels[ti]));
    hint->to(device);
    hint_ = module_->register_module("hint", hint);
  }
  if (spec_.attention.weight > 0) {
    const auto& st = spec_.attention.student_taps;
    if (st.empty()) {
      KDAUG_CHECK(student_channels.size() == teacher_channels.size(),
                  "objective.attention: student has ", student_channels.size(), " taps and teacher ",
                  teacher_channels.size(), "; list student_taps and teacher_taps to pair them");
    }
    for (size_t i = 0; i < st.size(); ++i) {
      resolve_tap(st[i], student_channels.size(), "objective.attention.student_taps");
      resolve_tap(spec_.attention.teacher_taps[i], teacher_channels.size(), "objective.attention.teacher_taps");
    }
  }
}

std::vector<at::Tensor> Objective::parameters() const { return module_->parameters(); }

Objective::Result Objective::compute(models::ClassifierImpl& student, const Views& v,
                                     const TeacherFn& teacher,
                                     const FeatureTeacherFn& teacher_features) const {
  const std::vector<ActiveTerm> terms = active_terms(spec_);
  const std::vector<std::string> views = student_views();
  const bool features = needs_features();

  auto input_of = [&](const std::string& view) -> const at::Tensor& {
    const at::Tensor& t = view == "original" ? v.x : view == "augmented" ? v.x_aug : v.x_pert;
    const char* member = view == "original" ? "x" : view == "augmented" ? "x_aug" : "x_pert";
    TORCH_CHECK(t.defined(), "Objective: the ", view, " view is used but Views::", member,
                " is undefined");
    TORCH_CHECK(t.dim() == 4 && t.is_floating_point(), "Objective: Views::", member,
                " must be float [B, C, H, W], got ", t.sizes());
    return t;
  };

  // Everything that can fail is checked before any forward pass.
  const std::string tv = teacher_view();
  const at::Tensor& x_t = tv == "x" ? v.x : tv == "x_aug" ? v.x_aug : v.x_teacher;
  if (!tv.empty()) {
    TORCH_CHECK(x_t.defined(), "Objective: the teacher reads Views::", tv, " but it is undefined");
    if (features) {
      TORCH_CHECK(teacher_features, "Objective: feature terms need the teacher's taps; pass a "
                  "FeatureTeacherFn to compute()");
    } else {
      TORCH_CHECK(teacher, "Objective: a term uses the teacher but no TeacherFn was given");
    }
  }
  TORCH_CHECK(spec_.hint.weight == 0 || hint_, "Objective: the hint term needs bind_features() first");
  for (const auto& t : terms) {
    const bool hard = (t.spec->target == "labels" && !v.soft_targets.defined()) ||
                      t.spec->distance.kind() == Distance::DKD;
    TORCH_CHECK(!hard || v.labels.defined(), "Objective: term ", t.name, " needs Views::labels");
  }
  for (const auto& name : views) input_of(name);

  // ---- student: one forward over the concatenated views (or one per view) -------------
  std::map<std::string, at::Tensor> logits;
  std::map<std::string, std::vector<at::Tensor>> taps;
  auto run = [&](const at::Tensor& input, const std::vector<std::string>& names) {
    const int64_t parts = static_cast<int64_t>(names.size());
    if (features) {
      models::Features f = student.forward_features(input);
      auto l = split_rows(f.logits, parts);
      for (int64_t i = 0; i < parts; ++i) logits[names[i]] = l[i];
      for (const auto& tap : f.taps) {
        auto chunks = split_rows(tap, parts);
        for (int64_t i = 0; i < parts; ++i) taps[names[i]].push_back(chunks[i]);
      }
    } else {
      auto l = split_rows(student.forward(input), parts);
      for (int64_t i = 0; i < parts; ++i) logits[names[i]] = l[i];
    }
  };
  if (spec_.per_view_forward || views.size() == 1) {
    for (const auto& name : views) run(input_of(name), {name});
  } else {
    std::vector<at::Tensor> inputs;
    for (const auto& name : views) {
      inputs.push_back(input_of(name));
      TORCH_CHECK(inputs.back().sizes() == inputs.front().sizes(), "Objective: views ", views.front(),
                  " ", inputs.front().sizes(), " and ", name, " ", inputs.back().sizes(),
                  " differ in shape; they cannot share one forward (set per_view_forward)");
    }
    run(at::cat(inputs, 0), views);
  }

  // ---- teacher: at most one call -------------------------------------------------------
  at::Tensor teacher_logits;
  std::vector<at::Tensor> teacher_taps;
  if (!tv.empty()) {
    if (features) {
      models::Features f = teacher_features(x_t);
      teacher_logits = f.logits.detach();
      for (const auto& t : f.taps) teacher_taps.push_back(t.detach());
    } else {
      teacher_logits = teacher(x_t).detach();
    }
  }

  // ---- terms ---------------------------------------------------------------------------
  Result r;
  at::Tensor loss;
  std::vector<std::string> names;
  std::vector<at::Tensor> values;
  auto add = [&](const std::string& name, double weight, const at::Tensor& value) {
    names.push_back(name);
    values.push_back(value.detach().to(at::kDouble));
    const at::Tensor w = value * weight;
    loss = loss.defined() ? loss + w : w;
  };
  const bool use_soft = v.soft_targets.defined();
  for (const auto& t : terms) {
    const at::Tensor& s = logits.at(t.spec->view);
    const DistanceOptions& d = t.spec->distance;
    if (t.spec->target == "labels") {
      if (use_soft) {
        add(t.name, t.weight, distance(s, v.soft_targets, DistanceOptions(d).target_is_probs(true)));
      } else {
        add(t.name, t.weight, distance(s, v.labels, d));
      }
    } else if (d.kind() == Distance::DKD) {
      add(t.name, t.weight,
          dkd_loss(s, teacher_logits, v.labels, d.dkd_alpha(), d.dkd_beta(), d.temperature()));
    } else {
      add(t.name, t.weight, distance(s, teacher_logits, d));
    }
  }
  if (spec_.hint.weight > 0) {
    const auto& st = taps.at(spec_.hint.view);
    const int64_t si = resolve_tap(spec_.hint.student_tap, st.size(), "objective.hint.student_tap");
    const int64_t ti = resolve_tap(spec_.hint.teacher_tap, teacher_taps.size(), "objective.hint.teacher_tap");
    auto* hint = dynamic_cast<HintImpl*>(hint_.get());
    add("hint", spec_.hint.weight, hint->forward(st[si], teacher_taps[ti]));
  }
  if (spec_.attention.weight > 0) {
    const auto& st = taps.at(spec_.attention.view);
    std::vector<at::Tensor> s_sel, t_sel;
    if (spec_.attention.student_taps.empty()) {
      s_sel = st;
      t_sel = teacher_taps;
    } else {
      for (size_t i = 0; i < spec_.attention.student_taps.size(); ++i) {
        s_sel.push_back(st[resolve_tap(spec_.attention.student_taps[i], st.size(),
                                       "objective.attention.student_taps")]);
        t_sel.push_back(teacher_taps[resolve_tap(spec_.attention.teacher_taps[i], teacher_taps.size(),
                                                 "objective.attention.teacher_taps")]);
      }
    }
    add("attention", spec_.attention.weight, at_loss(s_sel, t_sel, spec_.attention.p));
  }
  r.loss = loss;
  names.push_back("loss");
  values.push_back(loss.detach().to(at::kDouble));
  // One device-to-host copy for all the logged values (each item() would be a sync).
  const at::Tensor host = at::stack(values).to(at::kCPU);
  const double* data = host.data_ptr<double>();
  for (size_t i = 0; i < names.size(); ++i) r.terms[names[i]] = data[i];
  if (logits.count("original")) r.student_logits_original = logits.at("original").detach();
  return r;
}

}  // namespace kdaug::distill
