// The distillation objective: weighted distance terms over the student's views of a batch.
//
//   L = a * w_o * D_o(s(v_o), y)  +  (1 - a) * ( w_a * D_a(s(v_a), t') + w_p * D_p(s(v_p), t') )
//       + w_hint * Hint(taps)  +  w_at * AT(taps)
//
// with v_o, v_a, v_p the views the three terms read (by default x, x' = augment(x) and
// x'' = perturb(x')), t' the teacher's logits (computed once per batch), and each D one of
// the distances in distance.h. See docs/distill.md for the recipe syntax and the ablation arms.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kdaug/distill/distance.h"
#include "kdaug/models/model.h"

namespace YAML {
class Node;
}

namespace kdaug::distill {

// Teacher logits float [B, K] for a batch float [B, C, H, W] in [0, 1]; must not require grad
// (a Teacher, or later a soft-label cache lookup).
using TeacherFn = std::function<at::Tensor(const at::Tensor& x_teacher_view)>;
// The same with the teacher's feature taps (needed by hint / attention terms).
using FeatureTeacherFn = std::function<models::Features(const at::Tensor& x_teacher_view)>;

// One logit-level term.
struct TermSpec {
  std::string view;    // the student input it reads: "original" (x), "augmented" (x'), "perturbed" (x'')
  std::string target;  // "labels" (y, or Views::soft_targets when given) or "teacher" (t')
  DistanceOptions distance;
  // The term's own weight (>= 0); the original term is further scaled by a, the augmented
  // and perturbed terms by (1 - a). An effective weight of 0 disables the term: its view is
  // not forwarded and, if no other term needs it, the teacher is not called.
  double weight = 1.0;
};

// FitNets hint on one pair of taps (negative indices count from the end: -1 is the input of
// the classifier head). The weight is absolute (not scaled by a); 0 = off.
struct HintSpec {
  double weight = 0.0;
  std::string view = "augmented";
  int64_t student_tap = -1;
  int64_t teacher_tap = -1;
};

// Attention transfer over pairs of taps (empty lists = all taps, pairwise, which needs equal
// tap counts). The weight is absolute; 0 = off. Zagoruyko & Komodakis used 1000 / 2 per pair.
struct AttentionSpec {
  double weight = 0.0;
  std::string view = "augmented";
  double p = 2.0;
  std::vector<int64_t> student_taps;
  std::vector<int64_t> teacher_taps;
};

// WHAT THIS REPRESENTS: a whole objective, as written in a recipe's `objective:` block.
// The defaults are the full method (synergy): a = 0.5, CE on x, KL at T = 4 on x' and x''.
struct ObjectiveSpec {
  double a = 0.5;  // in [0, 1]: weight of the original term against the teacher terms
  TermSpec original{"original", "labels", DistanceOptions().kind(Distance::CE), 1.0};
  TermSpec augmented{"augmented", "teacher", DistanceOptions().kind(Distance::KL).temperature(4), 1.0};
  TermSpec perturbed{"perturbed", "teacher", DistanceOptions().kind(Distance::KL).temperature(4), 1.0};
  HintSpec hint;
  AttentionSpec attention;
  // false: all student views go through the student as ONE concatenated batch (fast; BatchNorm
  // statistics in training mode are then computed over all views together). true: one forward
  // per view (BatchNorm sees each view alone, as separate training steps would).
  bool per_view_forward = false;
  // true: the teacher labels the same x' the student sees ("consistent teaching").
  // false: the teacher labels its own independent view, Objective::Views::x_teacher.
  bool consistent_teacher = true;

  // Parses an `objective:` block (a YAML map). Terms not listed are disabled (weight 0); keys
  // omitted inside a listed term take that term's defaults above. Unknown keys and bad values
  // throw kdaug::Error naming the key path (e.g. "objective.augmented.temprature: unknown key
  // (did you mean temperature?)").
  static ObjectiveSpec from_yaml(const YAML::Node& node, const std::string& path = "objective");
  // The same from YAML text holding the block's contents (or a map with an `objective:` key).
  static ObjectiveSpec parse(const std::string& yaml_text);
  // Throws kdaug::Error (prefixed with `path`) for inconsistent settings.
  void validate(const std::string& path = "objective") const;
  nlohmann::json to_json() const;

  double original_weight() const { return a * original.weight; }
  double augmented_weight() const { return (1 - a) * augmented.weight; }
  double perturbed_weight() const { return (1 - a) * perturbed.weight; }
};

class Objective {
 public:
  // One batch. Every image tensor is float [B, C, H, W] in [0, 1] on the student's device;
  // only the views some active term reads must be defined (see student_views()).
  struct Views {
    at::Tensor x;             // originals
    at::Tensor x_aug;         // x' = augment(x)
    at::Tensor x_pert;        // x'' = perturb(x')
    at::Tensor labels;        // int64 [B]
    at::Tensor soft_targets;  // optional float [B, K] probabilities (e.g. mixup); replaces labels
    at::Tensor x_teacher;     // the teacher's own view; required iff !consistent_teacher
  };
  struct Result {
    at::Tensor loss;  // scalar, differentiable w.r.t. the student (and the hint adapter)
    // Unweighted value of each active term ("original", "augmented", "perturbed", "hint",
    // "attention"), detached, plus the weighted total under "loss".
    std::map<std::string, double> terms;
    at::Tensor student_logits_original;  // detached [B, K] when x was forwarded, else undefined
  };

  explicit Objective(ObjectiveSpec spec);

  // Required before compute() when the hint term is active: creates its 1x1 adapter from the
  // tap channel counts (models::ClassifierImpl::tap_channels()) on `device`. Also checks the
  // attention tap indices. Call it again to rebuild for another pair of models.
  void bind_features(const std::vector<int64_t>& student_channels,
                     const std::vector<int64_t>& teacher_channels,
                     c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Learnable parameters of the objective itself (the hint adapter; empty otherwise): give
  // them to the optimiser with the student's. module() holds them for checkpoints.
  std::vector<at::Tensor> parameters() const;
  std::shared_ptr<torch::nn::Module> module() const { return module_; }

  // Computes the loss. The student runs in whatever mode the caller set (train()); the
  // teacher is called at most once, on the view teacher_view() names.
  // `teacher` may be empty when !needs_teacher(); `teacher_features` is required (and used
  // instead of `teacher`) when a feature term is active.
  Result compute(models::ClassifierImpl& student, const Views& v, const TeacherFn& teacher,
                 const FeatureTeacherFn& teacher_features = nullptr) const;

  const ObjectiveSpec& spec() const { return spec_; }
  bool needs_teacher() const;
  bool needs_features() const;
  bool needs_labels() const;
  // The views the student forwards, in the order original, augmented, perturbed.
  std::vector<std::string> student_views() const;
  // Which Views member the teacher reads: "x_aug", "x", "x_teacher", or "" when not needed.
  // With consistent teaching it is x' whenever a teacher-target term reads x' or x'', and x
  // when only the original view uses the teacher (Hinton KD); the one teacher output is then
  // the target of every teacher term.
  std::string teacher_view() const;

 private:
  ObjectiveSpec spec_;
  std::shared_ptr<torch::nn::Module> module_;
  std::shared_ptr<torch::nn::Module> hint_;  // a HintImpl once bound
};

}  // namespace kdaug::distill
