// The glue between the loader, the augmentation engine and the objective: which views each batch
// carries (built on the loader's background thread) and the training step that distils from them.
#pragma once

#include <memory>

#include "kdaug/augment/pipeline.h"
#include "kdaug/data/loader.h"
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

// The batch transform that adds the views. Randomness comes from a generator seeded by
// (seed, epoch, step), so views do not depend on thread count or on prefetching.
data::BatchTransform make_view_transform(std::shared_ptr<const augment::AugmentConfig> cfg, ViewOptions opts);

// The views an objective needs (and whether the input is replaced by x').
ViewOptions views_for(const distill::Objective& objective, bool input_augmented, uint64_t seed);

// A training step that evaluates `objective` on the batch's views, with the frozen `teacher`
// (may be null when the objective needs none). With a profiler, the teacher's forward passes are
// timed as the phase "teacher".
StepFn objective_step(std::shared_ptr<distill::Objective> objective, std::shared_ptr<distill::Teacher> teacher,
                      Profiler* profiler = nullptr);

}  // namespace kdaug::train
