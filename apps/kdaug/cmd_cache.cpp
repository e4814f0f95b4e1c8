// kdaug cache build RECIPE: build (or resume, or check) the soft-label cache a distilling
// recipe's teacher.cache block asks for, ahead of the runs that read it.
// kdaug cache info PATH: check a cache file and print its header.
#include <CLI/CLI.hpp>

#include <memory>
#include <ostream>

#include "kdaug/augment/pipeline.h"
#include "kdaug/command.h"
#include "kdaug/common.h"
#include "kdaug/core/io.h"
#include "kdaug/distill/cache.h"
#include "kdaug/distill/objective.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/run.h"
#include "kdaug/train/recipe.h"

namespace kdaug::cli {
namespace {

struct CacheArgs {
  RuntimeArgs rt;
  std::string recipe;               // build: the recipe
  std::vector<std::string> sets;    // build: --set overrides
  int64_t stop_after_images = 0;    // build: stop early, leaving PATH.partial (tests of resuming)
  std::string path;                 // info: the cache file
};

int cmd_cache_build(const CacheArgs& a, const Io& io) {
  const auto r = train::load_recipe(a.recipe, a.sets);
  KDAUG_CHECK(r.teacher_cache, "recipe ", a.recipe, " has no teacher.cache block (e.g. teacher: {checkpoint: T, ",
              "cache: {views: 8}}), so it reads no soft-label cache");
  KDAUG_CHECK(a.stop_after_images >= 0, "--stop-after-images must be >= 0, got ", a.stop_after_images);
  require_readable(r.teacher_checkpoint, "teacher checkpoint");
  const auto device = setup_runtime(a.rt, io);
  const auto splits = load_data(DataArgs{r.data.dataset, r.data.data_dir, r.data.val_size, r.data.train_limit,
                                         r.data.test_limit},
                                r.seed);
  KDAUG_CHECK(r.objective && !r.objective.IsNull(), "recipe ", a.recipe, ": teacher.cache needs an objective: block");
  const distill::Objective objective(distill::ObjectiveSpec::from_yaml(r.objective, "objective"));
  const auto teacher = load_teacher(r, device, io);
  const auto cfg = augment::augment_config_from_yaml(r.resolved);
  const auto prepared = prepare_cache(r, splits, teacher, objective, cfg, io, a.stop_after_images);
  if (!prepared.info["complete"].get<bool>()) {
    io.out << "stopped early (--stop-after-images); run the same command again to resume "
           << prepared.info["path"].get<std::string>() << ".partial\n";
    return 0;
  }
  io.out << "cache: " << prepared.info["path"].get<std::string>() << "\n"
         << "images: " << prepared.info["images"] << ", views: " << prepared.info["views"]
         << ", bytes per view: " << prepared.info["bytes_per_view"] << ", file bytes: " << prepared.info["file_bytes"]
         << "\n"
         << (prepared.info["built"].get<bool>() ? "built" : "up to date: reused as it is") << "\n";
  return 0;
}

int cmd_cache_info(const CacheArgs& a, const Io& io) {
  require_readable(a.path, "soft-label cache");
  const auto cache = distill::SoftLabelCache::open(a.path);
  io.out << cache->key().to_json().dump(2) << "\n"
         << "file bytes: " << cache->file_bytes() << ", bytes per view: " << cache->key().bytes_per_view()
         << ", checksum ok\n";
  return 0;
}

const Registration reg(
    "cache", "build or inspect a soft-label cache (teacher outputs for replayable augmented views)",
    [](CLI::App& sub) -> Runner {
      auto a = std::make_shared<CacheArgs>();
      auto mode = std::make_shared<std::string>();
      sub.require_subcommand(1);
      auto* b = sub.add_subcommand("build", "build, resume or check the cache of RECIPE's teacher.cache block");
      add_runtime(*b, a->rt);
      b->add_option("recipe", a->recipe, "YAML recipe with teacher: {checkpoint: ..., cache: {...}}")->required();
      b->add_option("--set", a->sets, "override a recipe value: key.path=value (repeatable)");
      b->add_option("--stop-after-images", a->stop_after_images, "stop after N images (the next call resumes)");
      b->callback([mode] { *mode = "build"; });
      auto* i = sub.add_subcommand("info", "check a cache file (size, checksum) and print its header");
      i->add_option("path", a->path, "the .slc file")->required();
      i->callback([mode] { *mode = "info"; });
      return [a, mode](const Io& io) { return *mode == "build" ? cmd_cache_build(*a, io) : cmd_cache_info(*a, io); };
    });

}  // namespace
}  // namespace kdaug::cli
