// argv -> option structs (CLI11) -> commands. Each option's default lives in cli.h.
#include "kdaug/cli.h"

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <algorithm>
#include <ostream>

#include "kdaug/command.h"
#include "kdaug/core/error.h"
#include "kdaug/version.h"

namespace kdaug::cli {
namespace {

std::vector<RegisteredCommand>& registry() {
  static std::vector<RegisteredCommand> r;
  return r;
}

}  // namespace

Registration::Registration(std::string name, std::string help, Adder add) {
  registry().push_back({std::move(name), std::move(help), std::move(add)});
}

std::vector<RegisteredCommand> registered_commands() {
  auto r = registry();
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return r;
}

void add_runtime(CLI::App& app, RuntimeArgs& rt) {
  app.add_option("--threads", rt.threads, "intra-op CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", rt.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--seed", rt.seed, "seed of every random stream")->capture_default_str();
}

void add_data(CLI::App& app, DataArgs& d) {
  app.add_option("--dataset", d.dataset, "fashion-mnist, mnist, cifar10 or cifar100")->capture_default_str();
  app.add_option("--data-dir", d.data_dir, "directory with the dataset's files (default: its standard place)");
  app.add_option("--val-size", d.val_size, "training images held out for validation (seeded)")->capture_default_str();
  app.add_option("--train-limit", d.train_limit, "use only the first N training images (0 = all)");
  app.add_option("--test-limit", d.test_limit, "use only the first N test images (0 = all)");
}

int run(int argc, const char* const* argv, const Io& io) {
  CLI::App app{"kdaug " KDAUG_VERSION " — knowledge distillation + data augmentation for compact image classifiers"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "kdaug " KDAUG_VERSION " (" KDAUG_GIT_COMMIT ")");
  app.footer("Run `kdaug COMMAND --help` for a command's options.");

  TrainArgs train;
  auto* t = app.add_subcommand("train", "train a classifier with cross-entropy (optionally with augmentation)");
  add_runtime(*t, train.rt);
  add_data(*t, train.data);
  t->add_option("--model", train.model, "model name (see `kdaug models`)")->capture_default_str();
  t->add_option("--width-mult", train.width_mult, "channel multiplier for vgg*/mobilenetv2")->capture_default_str();
  t->add_option("--epochs", train.epochs, "training epochs")->capture_default_str();
  t->add_option("--batch-size", train.batch_size, "images per step")->capture_default_str();
  t->add_option("--optimizer", train.optimizer, "sgd, adam or adamw")->capture_default_str();
  t->add_option("--lr", train.lr, "peak learning rate")->capture_default_str();
  t->add_option("--momentum", train.momentum, "SGD momentum")->capture_default_str();
  t->add_flag("--no-nesterov", train.no_nesterov, "plain momentum instead of Nesterov");
  t->add_option("--weight-decay", train.weight_decay, "weight decay")->capture_default_str();
  t->add_option("--schedule", train.schedule, "cosine, step or constant")->capture_default_str();
  t->add_option("--warmup-epochs", train.warmup_epochs, "linear warm-up epochs")->capture_default_str();
  t->add_option("--milestones", train.milestones, "step schedule: epochs where lr *= gamma");
  t->add_option("--gamma", train.gamma, "step schedule factor")->capture_default_str();
  t->add_option("--label-smoothing", train.label_smoothing, "label smoothing in [0,1)")->capture_default_str();
  t->add_option("--recipe", train.recipe, "YAML recipe; its augment: and perturb: lists are applied");
  t->add_option("--out", train.out, "run directory (default runs/train-MODEL-sSEED)");
  t->add_flag("--resume", train.resume, "continue the run in --out from its last checkpoint");
  t->add_option("--max-steps", train.max_steps, "cut each epoch after N steps (smoke tests)");
  t->add_flag("--no-prefetch", train.no_prefetch, "prepare batches on the training thread");
  t->add_flag("--profile", train.profile, "print where each step's time goes (data, augmentation, forward, ...)");

  EvalArgs eval;
  auto* e = app.add_subcommand("eval", "evaluate a checkpoint: clean, noise, corruptions, attacks, calibration, "
                                        "fidelity, cost");
  add_runtime(*e, eval.rt);
  add_data(*e, eval.data);
  add_eval_options(*e, eval);

  RunArgs runa;
  auto* r = app.add_subcommand("run", "run a recipe: train its teacher if needed, train/distil, evaluate");
  add_runtime(*r, runa.rt);
  r->add_option("recipe", runa.recipe, "YAML recipe (see recipes/)")->required();
  r->add_option("--set", runa.sets, "override a recipe value: key.path=value (repeatable)");
  r->add_option("--out", runa.out, "run directory (default runs/NAME-sSEED)");
  r->add_flag("--resume", runa.resume, "continue the run in --out from its last checkpoint");
  r->add_option("--max-steps", runa.max_steps, "cut each epoch after N steps (smoke tests)");
  r->add_flag("--profile", runa.profile, "print where each step's time goes (data, augmentation, teacher, ...)");

  DistillArgs dist;
  auto* d = app.add_subcommand("distill", "distil a student from a teacher checkpoint (canonical synergy recipe)");
  add_runtime(*d, dist.run.rt);
  d->add_option("--teacher", dist.teacher, "teacher checkpoint")->required();
  d->add_option("--student", dist.student, "student model name")->capture_default_str();
  d->add_option("--epochs", dist.epochs, "epochs (default: the recipe's)");
  d->add_option("--recipe", dist.run.recipe, "recipe to start from (default: canonical fmnist-synergy)");
  d->add_option("--set", dist.run.sets, "override a recipe value: key.path=value (repeatable)");
  d->add_option("--out", dist.run.out, "run directory (default runs/distill-STUDENT-sSEED)");
  d->add_flag("--resume", dist.run.resume, "continue the run in --out from its last checkpoint");
  d->add_option("--max-steps", dist.run.max_steps, "cut each epoch after N steps (smoke tests)");
  d->add_flag("--profile", dist.run.profile, "print where each step's time goes (data, augmentation, teacher, ...)");

  ModelsArgs models;
  auto* m = app.add_subcommand("models", "list every model with its parameter count and FLOPs");
  m->add_option("--channels", models.channels, "input channels")->capture_default_str();
  m->add_option("--height", models.height, "input height")->capture_default_str();
  m->add_option("--width", models.width, "input width")->capture_default_str();
  m->add_option("--classes", models.classes, "number of classes")->capture_default_str();
  m->add_flag("--json", models.json, "print JSON instead of a table");

  std::vector<std::pair<CLI::App*, Runner>> extra;
  for (const auto& c : registered_commands()) {
    auto* sub = app.add_subcommand(c.name, c.help);
    extra.emplace_back(sub, c.add(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& h) {
    return app.exit(h, io.out, io.log);
  } catch (const CLI::CallForAllHelp& h) {
    return app.exit(h, io.out, io.log);
  } catch (const CLI::CallForVersion& h) {
    return app.exit(h, io.out, io.log);
  } catch (const CLI::ParseError& pe) {
    io.log << "kdaug: error: " << pe.what() << " (see kdaug --help)\n";
    return 2;
  }

  try {
    if (*t) return cmd_train(train, io);
    if (*e) {
      eval.seed_given = e->count("--seed") > 0;
      return cmd_eval(eval, io);
    }
    if (*m) return cmd_models(models, io);
    if (*r) {
      runa.seed_given = r->count("--seed") > 0;
      return cmd_run(runa, io);
    }
    if (*d) {
      dist.run.seed_given = d->count("--seed") > 0;
      return cmd_distill(dist, io);
    }
    for (auto& [sub, runner] : extra) {
      if (*sub) return runner(io);
    }
    io.out << app.help();
    return 0;
  } catch (const std::exception& ex) {
    io.log << (io.interactive ? "\n" : "") << "kdaug: error: " << describe_exception(ex) << "\n";
    return 1;
  }
}

}  // namespace kdaug::cli
