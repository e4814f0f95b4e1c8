// kdaug run RECIPE / kdaug distill: train a teacher when the recipe asks for one, train the
// model the recipe describes (plain CE or the distillation objective), evaluate, and write the
// run directory.
#include <filesystem>
#include <ostream>

#include "kdaug/augment/pipeline.h"
#include "kdaug/common.h"
#include "kdaug/core/config.h"
#include "kdaug/core/io.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/objective.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/eval/metrics.h"
#include "kdaug/models/checkpoint.h"
#include "kdaug/models/registry.h"
#include "kdaug/report/tensorboard.h"
#include "kdaug/run.h"
#include "kdaug/train/recipe.h"
#include "kdaug/train/trainer.h"
#include "kdaug/train/views.h"

namespace fs = std::filesystem;

namespace kdaug::cli {

RunOutcome run_recipe(const train::Recipe& r, const RunArgs& a, const std::string& out_dir, const Io& io) {
  const uint64_t seed = r.seed;
  const auto device = setup_runtime(a.rt, io);

  // The teacher: trained first from its own recipe when the checkpoint is not there yet.
  if (r.distills() && !fs::exists(r.teacher_checkpoint)) {
    KDAUG_CHECK(!r.teacher_recipe.empty(), "teacher checkpoint ", r.teacher_checkpoint,
                " not found, and the recipe names no teacher.recipe to train it");
    io.log << "teacher " << r.teacher_checkpoint << " not found: training it with " << r.teacher_recipe << "\n";
    const auto tr = train::load_recipe(r.teacher_recipe);
    KDAUG_CHECK(!tr.distills(), "teacher recipe ", r.teacher_recipe, " itself needs a teacher; it must train from labels");
    RunArgs ta = a;
    ta.resume = true;
    const auto teacher_run = run_recipe(tr, ta, (fs::path(out_dir) / "teacher").string(), io);
    write_path_atomic(r.teacher_checkpoint, [&](const std::string& tmp) {
      fs::copy_file(teacher_run.checkpoint, tmp, fs::copy_options::overwrite_existing);
    });
  }

  auto splits = load_data(DataArgs{r.data.dataset, r.data.data_dir, r.data.val_size, r.data.train_limit,
                                   r.data.test_limit},
                          seed);
  io.log << "recipe " << r.name << ": " << r.model << " on " << r.data.dataset << " (train " << splits.train.size()
         << ", val " << splits.val.size() << ", test " << splits.test.size() << "), seed " << seed << "\n";
  const auto spec = spec_for(splits.train, r.model, r.width_mult);
  auto model = models::make_model(spec, derive_seed(seed, "init"));

  train::TrainOptions o;
  o.epochs = r.epochs;
  o.batch_size = r.batch_size;
  o.optim = r.optim;
  o.schedule = r.schedule;
  o.label_smoothing = r.label_smoothing;
  o.precision = r.precision;
  o.channels_last = r.channels_last;
  o.seed = seed;
  o.run_dir = out_dir;
  o.resume = a.resume;
  o.interactive = io.interactive;
  o.device = device;
  o.max_steps_per_epoch = a.max_steps;
  o.profile = a.profile;
  const std::string last = (fs::path(out_dir) / "last.pt").string();
  KDAUG_CHECK(a.resume || !fs::exists(last), "run directory ", out_dir,
              " already holds a run; pass --resume to continue it or --out DIR for a new one");

  auto cfg = std::make_shared<augment::AugmentConfig>(augment::augment_config_from_yaml(r.resolved));
  std::shared_ptr<distill::Teacher> teacher;
  std::shared_ptr<distill::Objective> objective;
  if (r.objective && !r.objective.IsNull()) {
    objective = std::make_shared<distill::Objective>(distill::ObjectiveSpec::from_yaml(r.objective, "objective"));
    KDAUG_CHECK(!objective->needs_teacher() || r.distills(),
                "objective has teacher terms but the recipe names no teacher (teacher.checkpoint)");
  }
  if (r.distills()) {
    teacher = std::make_shared<distill::Teacher>(load_teacher(r, device, io));
    const auto& ts = teacher->spec();
    KDAUG_CHECK(ts.in_channels == spec.in_channels && ts.num_classes == spec.num_classes, "teacher ",
                r.teacher_checkpoint, " takes ", ts.in_channels, " channels and ", ts.num_classes,
                " classes; the data have ", spec.in_channels, " and ", spec.num_classes);
  }

  nlohmann::json run = {{"command", "run"},
                        {"recipe_file", r.source},
                        {"recipe", YAML::Dump(r.resolved)},
                        {"model", spec.to_json()},
                        {"seed", seed},
                        {"provenance", provenance()}};
  o.meta = run;
  write_text_atomic((fs::path(out_dir) / "recipe.yaml").string(), YAML::Dump(r.resolved) + "\n");
  write_text_atomic((fs::path(out_dir) / "run.json").string(), run.dump(2) + "\n");

  train::Trainer trainer(model, o, io.log);
  auto events = std::make_shared<report::EventWriter>(o.run_dir);  // TensorBoard: tensorboard --logdir runs
  trainer.set_on_epoch([events](const train::EpochRecord& rec) { report::add_epoch(*events, rec); });
  train::ViewOptions views;
  views.seed = derive_seed(seed, "augment");
  if (objective) {
    views = train::views_for(*objective, r.input == "augmented", views.seed);
    if (objective->needs_features()) {
      objective->bind_features(model->tap_channels(), teacher->model()->tap_channels(), device);
      trainer.add_parameters(objective->parameters());
    }
    trainer.set_step(train::objective_step(objective, teacher, trainer.profiler()));
  } else {
    views.replace_input = r.input == "augmented";
  }
  KDAUG_CHECK(!(views.replace_input || views.augmented) || !cfg->augment.empty(), "recipe ", r.source,
              ": the objective or train.input uses augmented views, but augment: is empty");
  train::CachedTeacher cached;
  if (r.teacher_cache) {
    KDAUG_CHECK(objective != nullptr, "recipe ", r.source, ": teacher.cache needs an objective with teacher terms");
    auto prepared = prepare_cache(r, splits, *teacher, *objective, *cfg, io);
    cached = prepared.cached;
    run["cache"] = prepared.info;
  }
  if (views.replace_input || views.augmented || views.perturbed || views.teacher_view || cached.cache) {
    trainer.set_batch_transform(train::make_view_transform(cfg, views, cached));
  }
  io.log << "augment (x'): " << one_line(cfg->augment) << "\nperturb (x''): " << one_line(cfg->perturb) << "\n";
  report::write_augmentation_preview(o.run_dir, *cfg, splits.train, derive_seed(seed, "preview"), events.get());
  const auto result = trainer.fit(splits.train, splits.val.size() > 0 ? &splits.val : nullptr);

  RunOutcome outcome;
  outcome.checkpoint = result.best_checkpoint.empty() ? result.last_checkpoint : result.best_checkpoint;
  auto best = models::load_model(outcome.checkpoint, device);
  outcome.summary = summarize(*best.model, teacher ? teacher->model().get() : nullptr, splits.test, r.noise_sigmas,
                              seed, io);
  if (teacher && teacher->options().precision != "fp32") {
    // How far the reduced-precision teacher that labelled the views is from its fp32 self.
    const double agree = teacher_precision_agreement(*teacher, splits.test);
    outcome.summary["teacher"]["precision"] = teacher->options().precision;
    outcome.summary["teacher"]["precision_agreement"] = agree;
    io.log << "teacher in " << teacher->options().precision << ": top-1 agreement with the fp32 teacher " << agree
           << " on " << splits.test.size() << " test images\n";
  }
  outcome.summary["checkpoint"] = outcome.checkpoint;
  outcome.summary["best_epoch"] = result.best_epoch;
  outcome.summary["val_acc"] = result.best_val_acc;
  double seconds = 0;
  for (const auto& h : result.history) seconds += h.seconds;
  outcome.summary["train_seconds"] = seconds;
  outcome.summary["epochs"] = r.epochs;
  if (run.contains("cache")) outcome.summary["cache"] = run["cache"];
  write_text_atomic((fs::path(out_dir) / "summary.json").string(), outcome.summary.dump(2) + "\n");
  return outcome;
}

int cmd_run(const RunArgs& a, const Io& io) {
  std::vector<std::string> sets = a.sets;
  if (a.seed_given) sets.push_back("seed=" + std::to_string(a.rt.seed));
  const auto r = train::load_recipe(a.recipe, sets);
  const std::string out = a.out.empty() ? "runs/" + r.name + "-s" + std::to_string(r.seed) : a.out;
  const auto outcome = run_recipe(r, a, out, io);
  io.out << summary_markdown(outcome.summary) << "run directory: " << out << "\n";
  return 0;
}

int cmd_distill(const DistillArgs& a, const Io& io) {
  RunArgs ra = a.run;
  KDAUG_CHECK(!a.teacher.empty(), "--teacher CHECKPOINT is required");
  require_readable(a.teacher, "teacher checkpoint");
  std::vector<std::string> sets = {"teacher.checkpoint=" + a.teacher, "model.name=" + a.student};
  if (a.epochs > 0) sets.push_back("train.epochs=" + std::to_string(a.epochs));
  if (ra.seed_given) sets.push_back("seed=" + std::to_string(ra.rt.seed));
  sets.insert(sets.end(), ra.sets.begin(), ra.sets.end());
  train::Recipe r = ra.recipe.empty() ? train::parse_recipe(canonical_synergy_recipe(sets), "(canonical synergy)")
                                      : train::load_recipe(ra.recipe, sets);
  const std::string out =
      ra.out.empty() ? "runs/distill-" + a.student + "-s" + std::to_string(r.seed) : ra.out;
  const auto outcome = run_recipe(r, ra, out, io);
  io.out << summary_markdown(outcome.summary) << "run directory: " << out << "\n";
  return 0;
}

}  // namespace kdaug::cli
