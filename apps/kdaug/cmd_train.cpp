// kdaug train: supervised training (cross-entropy), optionally on augmented views.
#include <filesystem>
#include <ostream>

#include "kdaug/augment/pipeline.h"
#include "kdaug/common.h"
#include "kdaug/core/config.h"
#include "kdaug/core/io.h"
#include "kdaug/core/rng.h"
#include "kdaug/models/checkpoint.h"
#include "kdaug/models/registry.h"
#include "kdaug/report/tensorboard.h"
#include "kdaug/train/trainer.h"
#include "kdaug/train/views.h"
#include "kdaug/run.h"

namespace fs = std::filesystem;

namespace kdaug::cli {

int cmd_train(const TrainArgs& a, const Io& io) {
  const auto device = setup_runtime(a.rt, io);
  train::TrainOptions o;
  o.epochs = a.epochs;
  o.batch_size = a.batch_size;
  o.optim.name = a.optimizer;
  o.optim.lr = a.lr;
  o.optim.momentum = a.momentum;
  o.optim.nesterov = !a.no_nesterov && a.optimizer == "sgd";
  o.optim.weight_decay = a.weight_decay;
  o.schedule.kind = a.schedule;
  o.schedule.warmup_epochs = a.warmup_epochs;
  o.schedule.milestones = a.milestones;
  o.schedule.gamma = a.gamma;
  o.label_smoothing = a.label_smoothing;
  o.seed = a.rt.seed;
  o.run_dir = a.out.empty() ? default_run_dir("train", a.model, a.rt.seed) : a.out;
  o.resume = a.resume;
  o.interactive = io.interactive;
  o.device = device;
  o.max_steps_per_epoch = a.max_steps;
  o.profile = a.profile;
  o.prefetch = !a.no_prefetch;
  train::validate(o);  // bad flags fail before any data is read

  auto splits = load_data(a.data, a.rt.seed);
  io.log << "data: " << a.data.dataset << " train " << splits.train.size() << ", val " << splits.val.size()
         << ", test " << splits.test.size() << "\n";
  const auto spec = spec_for(splits.train, a.model, a.width_mult);
  auto model = models::make_model(spec, derive_seed(a.rt.seed, "init"));

  const std::string last = (fs::path(o.run_dir) / "last.pt").string();
  KDAUG_CHECK(a.resume || !fs::exists(last), "run directory ", o.run_dir,
              " already holds a run; pass --resume to continue it or --out DIR for a new one");

  nlohmann::json run = {{"command", "train"},
                        {"model", spec.to_json()},
                        {"dataset", a.data.dataset},
                        {"epochs", a.epochs},
                        {"batch_size", a.batch_size},
                        {"optimizer", a.optimizer},
                        {"lr", a.lr},
                        {"weight_decay", a.weight_decay},
                        {"schedule", a.schedule},
                        {"label_smoothing", a.label_smoothing},
                        {"seed", a.rt.seed},
                        {"val_size", a.data.val_size},
                        {"train_limit", a.data.train_limit},
                        {"recipe", a.recipe},
                        {"provenance", provenance()}};
  o.meta = run;
  write_text_atomic((fs::path(o.run_dir) / "run.json").string(), run.dump(2) + "\n");

  const auto cost = models::model_cost(spec);
  io.log << "model: " << spec.name << ", " << cost.params << " parameters, " << cost.macs / 1e6
         << " MFLOPs (multiply-adds) per image\n";

  train::Trainer trainer(model, o, io.log);
  auto events = std::make_shared<report::EventWriter>(o.run_dir);  // TensorBoard: tensorboard --logdir runs
  trainer.set_on_epoch([events](const train::EpochRecord& rec) { report::add_epoch(*events, rec); });
  if (!a.recipe.empty()) {
    // The recipe's augment: list replaces each training batch by its augmented view (ce+da).
    auto cfg = std::make_shared<augment::AugmentConfig>(augment::augment_config_from_yaml(config::load_file(a.recipe)));
    KDAUG_CHECK(!cfg->augment.empty(), "recipe ", a.recipe, " has no augment: list to train with");
    train::ViewOptions v;
    v.replace_input = true;
    v.seed = derive_seed(a.rt.seed, "augment");
    trainer.set_batch_transform(train::make_view_transform(cfg, v));
    io.log << "augment: " << one_line(cfg->augment) << "\n";
    report::write_augmentation_preview(o.run_dir, *cfg, splits.train, derive_seed(a.rt.seed, "preview"), events.get());
  }
  const auto result = trainer.fit(splits.train, splits.val.size() > 0 ? &splits.val : nullptr);

  // The test set is touched once, at the end, with the checkpoint chosen on validation.
  const std::string chosen = result.best_checkpoint.empty() ? result.last_checkpoint : result.best_checkpoint;
  auto best = models::load_model(chosen, device);
  const auto [test_acc, test_nll] = train::accuracy_nll(*best.model, splits.test);
  double seconds = 0;
  for (const auto& r : result.history) seconds += r.seconds;
  nlohmann::json summary = {{"checkpoint", chosen},
                            {"best_epoch", result.best_epoch},
                            {"val_acc", result.best_val_acc},
                            {"test_acc", test_acc},
                            {"test_nll", test_nll},
                            {"train_seconds", seconds},
                            {"params", cost.params}};
  write_text_atomic((fs::path(o.run_dir) / "summary.json").string(), summary.dump(2) + "\n");
  io.out << "| model | epochs | best epoch (val) | val acc | test acc | test NLL | train time |\n"
         << "| --- | --- | --- | --- | --- | --- | --- |\n";
  char buf[256];
  std::snprintf(buf, sizeof(buf), "| %s | %lld | %lld | %.4f | %.4f | %.4f | %.0f s |\n", spec.name.c_str(),
                static_cast<long long>(a.epochs), static_cast<long long>(result.best_epoch), result.best_val_acc,
                test_acc, test_nll, seconds);
  io.out << buf << "run directory: " << o.run_dir << " (last.pt, best.pt, metrics.jsonl, summary.json)\n";
  return 0;
}

}  // namespace kdaug::cli
