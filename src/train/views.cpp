#include "kdaug/train/views.h"

#include <ATen/ATen.h>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace kdaug::train {

data::BatchTransform make_view_transform(std::shared_ptr<const augment::AugmentConfig> cfg, ViewOptions o,
                                         CachedTeacher cached) {
  KDAUG_CHECK(cfg != nullptr, "view transform needs an augmentation config");
  return [cfg, o, cached](data::Batch& b) {
    // One stream per (epoch, step): the 2^32 spacing keeps epochs apart for any realistic step count.
    auto gen = make_generator(derive_seed(o.seed, "views", (static_cast<uint64_t>(b.epoch) << 32) +
                                                               static_cast<uint64_t>(b.step)));
    at::Tensor cached_view;  // the view the cached teacher output belongs to (Augmented / Independent)
    if (cached.cache) {
      const auto& key = cached.cache->key();
      const auto idx = cached.origin.defined() ? cached.origin.index_select(0, b.indices.to(at::kCPU)) : b.indices;
      const auto k = at::randint(key.views, {b.images.size(0)}, gen, at::TensorOptions().dtype(at::kLong));
      b.extra.emplace_back("t_cached", cached.cache->logits(idx, k).to(b.images.device()));
      if (cached.role != CachedRole::Original && !cfg->augment.empty()) {
        const auto& x = b.images;
        const auto params =
            cfg->augment.sample_params_from_seeds(cached.cache->seeds(idx, k), {x.size(1), x.size(2), x.size(3)},
                                                  x.device());
        cached_view = cfg->augment.replay(x, params);
      }
    }
    at::Tensor x_aug;
    if (o.replace_input || o.augmented || o.perturbed) {
      if (cached_view.defined() && cached.role == CachedRole::Augmented) {
        x_aug = cached_view;
      } else {
        x_aug = cfg->augment.empty() ? b.images : cfg->augment(b.images, gen);
      }
    }
    if (o.replace_input) b.images = x_aug;
    if (o.augmented) b.extra.emplace_back("x_aug", x_aug);
    if (o.perturbed) {
      b.extra.emplace_back("x_pert", cfg->perturb.empty() ? x_aug : cfg->perturb(x_aug, gen));
    }
    if (o.teacher_view) {
      b.extra.emplace_back("x_teacher", cached_view.defined() ? cached_view : cfg->augment(b.images, gen));
    }
  };
}

CachedRole cached_role(const distill::Objective& objective, bool input_augmented) {
  KDAUG_CHECK(!objective.needs_features(), "teacher.cache cannot serve hint or attention terms: they need the ",
              "teacher's feature maps, which the cache does not store (remove teacher.cache or those terms)");
  KDAUG_CHECK(objective.needs_teacher(), "teacher.cache is set but the objective has no teacher term");
  const auto tv = objective.teacher_view();
  if (tv == "x_teacher") return CachedRole::Independent;
  if (tv == "x" && !input_augmented) return CachedRole::Original;
  return CachedRole::Augmented;
}

ViewOptions views_for(const distill::Objective& objective, bool input_augmented, uint64_t seed) {
  ViewOptions v;
  v.seed = seed;
  v.replace_input = input_augmented;
  for (const auto& name : objective.student_views()) {
    if (name == "augmented") v.augmented = true;
    if (name == "perturbed") v.augmented = v.perturbed = true;
  }
  v.teacher_view = objective.needs_teacher() && !objective.spec().consistent_teacher;
  // The consistent teacher looks at x' even when no student term reads it.
  if (objective.needs_teacher() && objective.teacher_view() == "augmented") v.augmented = true;
  return v;
}

StepFn objective_step(std::shared_ptr<distill::Objective> objective, std::shared_ptr<distill::Teacher> teacher,
                      Profiler* profiler) {
  KDAUG_CHECK(objective != nullptr, "objective_step needs an objective");
  return [objective, teacher, profiler](models::ClassifierImpl& model, const data::Batch& b) {
    distill::Objective::Views v;
    v.x = b.images;
    v.labels = b.labels;
    if (const auto* t = b.find("x_aug")) v.x_aug = *t;
    if (const auto* t = b.find("x_pert")) v.x_pert = *t;
    if (const auto* t = b.find("x_teacher")) v.x_teacher = *t;
    distill::TeacherFn tfn = teacher ? teacher->fn() : distill::TeacherFn();
    const auto* t_cached = b.find("t_cached");
    if (t_cached != nullptr) {
      // The soft-label cache holds the teacher's output for exactly the view this batch carries.
      const at::Tensor cached = *t_cached;
      tfn = [cached](const at::Tensor& x) {
        KDAUG_CHECK(x.size(0) == cached.size(0), "cached teacher logits are for ", cached.size(0), " images, the ",
                    "teacher view has ", x.size(0));
        return cached;
      };
    }
    distill::FeatureTeacherFn ffn = teacher && objective->needs_features() ? teacher->feature_fn()
                                                                            : distill::FeatureTeacherFn();
    if (profiler != nullptr && tfn && t_cached == nullptr) {
      tfn = [tfn, profiler](const at::Tensor& x) {
        PhaseTimer timer(profiler, "teacher");
        return tfn(x);
      };
    }
    if (profiler != nullptr && ffn) {
      ffn = [ffn, profiler](const at::Tensor& x) {
        PhaseTimer timer(profiler, "teacher");
        return ffn(x);
      };
    }
    KDAUG_CHECK(tfn || !objective->needs_teacher(),
                "the objective has teacher terms but no teacher was given (teacher.checkpoint)");
    auto r = objective->compute(model, v, tfn, ffn);
    StepOutput out;
    out.loss = r.loss;
    out.logits = r.student_logits_original;
    out.terms = std::move(r.terms);
    return out;
  };
}

}  // namespace kdaug::train
