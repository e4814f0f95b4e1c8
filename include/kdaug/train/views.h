// The glue between the loader, the augmentation engine and the objective: which views each batch
// carries (built on the loader's background thread) and the training step that distils from them.
#pragma once

#include <memory>

#include "kdaug/augment/pipeline.h"
#include "kdaug/data/loader.h"
#include "kdaug/distill/cache.h"
#include "kdaug/distill/objective.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/train/trainer.h"

namespace kdaug::train {

struct ViewOptions {
  bool replace_input = false;  // batch.images := augment(x) (the ce+da and kd+da arms train on x' only)
  bool augmented = false;      // add "x_aug" = augment(x)
  bool perturbed = false;      // add "x_pert" = perturb(x_aug)
  bool teacher_view = false;   // add "x_teacher" = an independent augment(x) (non-consistent teaching)
  uint64_t seed = 0;           // views of (epoch, step) derive from it: a resumed run sees the same views
};

// Which view the teacher's cached outputs belong to (see cached_role).
enum class CachedRole {
  Augmented,    // the student's x' (or its input, when train.input is augmented) is the cached view
  Original,     // the teacher reads the un-augmented x: one view per image
  Independent,  // the teacher labels its own view (non-consistent teaching); the student's are fresh
};

// Reading teacher outputs from a soft-label cache instead of running the teacher. `origin`
// maps positions in the training split to positions in the cached file (Dataset::origin;
// undefined = the identity).
struct CachedTeacher {
  std::shared_ptr<const distill::SoftLabelCache> cache;
  CachedRole role = CachedRole::Augmented;
  at::Tensor origin;
};

// The batch transform that adds the views. Randomness comes from a generator seeded by
// (seed, epoch, step), so views do not depend on thread count or on prefetching.
// With `cached`, each image draws one of the cache's K views, the view is replayed from its
// stored seed, perturbation stays fresh, and the teacher's logits for it are added to the
// batch as "t_cached" (which objective_step then uses instead of a teacher forward).
data::BatchTransform make_view_transform(std::shared_ptr<const augment::AugmentConfig> cfg, ViewOptions opts,
                                         CachedTeacher cached = {});

// The role a cache plays for `objective` (train.input augmented or not). Throws kdaug::Error
// when the objective cannot be served from a cache (feature terms need the teacher itself).
CachedRole cached_role(const distill::Objective& objective, bool input_augmented);

// The views an objective needs (and whether the input is replaced by x').
ViewOptions views_for(const distill::Objective& objective, bool input_augmented, uint64_t seed);

// A training step that evaluates `objective` on the batch's views, with the frozen `teacher`
// (may be null when the objective needs none, or when batches carry "t_cached"). With a profiler, the teacher's forward passes are
// timed as the phase "teacher".
StepFn objective_step(std::shared_ptr<distill::Objective> objective, std::shared_ptr<distill::Teacher> teacher,
                      Profiler* profiler = nullptr);

}  // namespace kdaug::train
