// kdaug augment-preview: draws what a recipe's augmentation does to training images, as a PNG
// grid of three rows (top to bottom): the originals x, their augmented views x' (the recipe's
// augment: list) and the perturbed views x'' (its perturb: list applied to x'). Column i is
// training image i in every row.
#include <CLI/CLI.hpp>
#include <ATen/ATen.h>

#include <memory>
#include <ostream>

#include "kdaug/augment/pipeline.h"
#include "kdaug/augment/png.h"
#include "kdaug/command.h"
#include "kdaug/common.h"
#include "kdaug/core/config.h"
#include "kdaug/core/rng.h"

namespace kdaug::cli {
namespace {

struct PreviewArgs {
  RuntimeArgs rt;     // --seed draws the augmentation parameters
  DataArgs data;      // which training images
  std::string recipe; // YAML recipe whose augment:/perturb: lists are drawn
  std::string out;    // PNG to write
  int64_t n = 16;     // images (columns)
  int64_t scale = 2;  // pixel enlargement (nearest neighbour)
};

int preview(const PreviewArgs& a, const Io& io) {
  KDAUG_CHECK(a.n >= 1 && a.n <= 1024, "--n must be in [1, 1024], got ", a.n);
  KDAUG_CHECK(a.scale >= 1 && a.scale <= 16, "--scale must be in [1, 16], got ", a.scale);
  // Parse the recipe before touching the data, so a bad recipe fails fast.
  const auto root = config::load_file(a.recipe);
  augment::AugmentConfig cfg;
  try {
    cfg = augment::augment_config_from_yaml(root);
  } catch (const Error& e) {
    KDAUG_FAIL(a.recipe, ": ", e.what());
  }
  const auto device = setup_runtime(a.rt, io);
  const auto splits = load_data(a.data, a.rt.seed);
  const auto& train = splits.train;
  KDAUG_CHECK(train.size() >= a.n, "--n ", a.n, " is more than the ", train.size(), " training images");

  auto x = augment::to_float_image(train.images.slice(0, 0, a.n).to(device));
  auto gen = make_generator(a.rt.seed);
  const auto x1 = cfg.augment(x, gen);
  // Without a perturb: list there is no x'' row (the grid has two rows).
  const auto x2 = cfg.perturb.empty() ? at::Tensor() : cfg.perturb(x1, gen);
  augment::write_preview_grid(a.out, x, x1, x2, a.scale);

  io.out << "augment (x'):\n" << cfg.augment.describe() << "perturb (x''):\n" << cfg.perturb.describe()
         << "wrote " << a.out << ": rows top to bottom x, x'" << (x2.defined() ? ", x''" : "") << "; " << a.n << " training images of "
         << a.data.dataset << " (seed " << a.rt.seed << ")\n";
  return 0;
}

const Registration reg("augment-preview", "draw training images x, their augmented views x' and perturbed views x'' as a PNG grid",
                       [](CLI::App& sub) -> Runner {
                         auto a = std::make_shared<PreviewArgs>();
                         add_runtime(sub, a->rt);
                         add_data(sub, a->data);
                         sub.add_option("--recipe", a->recipe, "YAML recipe with augment: and perturb: lists")
                             ->required();
                         sub.add_option("--out", a->out, "PNG to write")->required();
                         sub.add_option("--n", a->n, "training images (grid columns)")->capture_default_str();
                         sub.add_option("--scale", a->scale, "pixel enlargement")->capture_default_str();
                         return [a](const Io& io) { return preview(*a, io); };
                       });

}  // namespace
}  // namespace kdaug::cli
