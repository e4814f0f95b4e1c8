// Recipes: every validation error names the key path and the bad value (and the file), unknown
// keys get a "did you mean" suggestion, --set overrides create and replace values, and the
// shipped recipes parse.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>
#include <fstream>

#include "kdaug/core/error.h"
#include "kdaug/train/recipe.h"

namespace fs = std::filesystem;
using kdaug::train::load_recipe;
using kdaug::train::parse_recipe;

namespace {

// A valid recipe; each test breaks one thing.
const char* kBase = R"(
name: tiny
seed: 3
data: {dataset: fashion-mnist, val_size: 100, train_limit: 512}
model: {name: resnet8}
train: {epochs: 2, batch_size: 64, optimizer: sgd, lr: 0.05, schedule: cosine}
eval: {noise_sigmas: [0.1]}
)";

YAML::Node base() { return YAML::Load(kBase); }

// The error message parse_recipe throws for `root` ("" when it does not throw).
std::string error_of(const YAML::Node& root, const std::string& source = "r.yaml") {
  try {
    parse_recipe(root, source);
  } catch (const kdaug::Error& e) {
    return e.what();
  }
  return "";
}

// `base()` with one value replaced (YAML text, parsed).
std::string error_with(const std::string& section, const std::string& key, const std::string& yaml) {
  auto root = base();
  if (section.empty()) {
    root[key] = YAML::Load(yaml);
  } else {
    root[section][key] = YAML::Load(yaml);
  }
  return error_of(root);
}

#define EXPECT_HAS(msg, needle) EXPECT_NE((msg).find(needle), std::string::npos) << "message: " << (msg)

std::string write(const std::string& name, const std::string& text) {
  const auto dir = fs::temp_directory_path() / ("kdaug_test_recipe_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto p = (dir / name).string();
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST(Recipe, BaseParses) {
  const auto r = parse_recipe(base(), "r.yaml");
  EXPECT_EQ(r.name, "tiny");
  EXPECT_EQ(r.seed, 3u);
  EXPECT_EQ(r.seeds, std::vector<uint64_t>{3});
  EXPECT_EQ(r.data.train_limit, 512);
  EXPECT_EQ(r.epochs, 2);
  EXPECT_DOUBLE_EQ(r.optim.lr, 0.05);
  EXPECT_TRUE(r.optim.nesterov);  // sgd's default
  EXPECT_FALSE(r.distills());
  EXPECT_EQ(r.noise_sigmas, std::vector<double>{0.1});
  EXPECT_EQ(error_of(base()), "");
}

TEST(Recipe, UnknownTopLevelKeySuggestsTheClosest) {
  auto root = base();
  root["trian"] = YAML::Load("{epochs: 3}");
  const auto m = error_of(root);
  EXPECT_HAS(m, "recipe r.yaml: ");
  EXPECT_HAS(m, "trian: unknown key (did you mean train?)");
  EXPECT_HAS(m, "known keys: name, seed, seeds, data, model, teacher");
  // Nothing close: no suggestion, but the known keys are listed.
  root = base();
  root["xyzzy"] = 1;
  const auto far = error_of(root);
  EXPECT_HAS(far, "xyzzy: unknown key;");
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
}

TEST(Recipe, UnknownKeyInEachSection) {
  EXPECT_HAS(error_with("data", "train_limt", "10"), "data.train_limt: unknown key (did you mean train_limit?)");
  EXPECT_HAS(error_with("model", "nmae", "resnet8"), "model.nmae: unknown key (did you mean name?)");
  auto root = base();
  root["teacher"] = YAML::Load("{checkpoint: t.pt, recipie: t.yaml}");
  EXPECT_HAS(error_of(root), "teacher.recipie: unknown key (did you mean recipe?)");
  EXPECT_HAS(error_with("train", "epoch", "3"), "train.epoch: unknown key (did you mean epochs?)");
  EXPECT_HAS(error_with("train", "weight_decya", "0.1"), "train.weight_decya: unknown key (did you mean weight_decay?)");
  EXPECT_HAS(error_with("eval", "noise_sigma", "[0.1]"), "eval.noise_sigma: unknown key (did you mean noise_sigmas?)");
}

TEST(Recipe, SectionsMustBeMaps) {
  EXPECT_HAS(error_with("", "data", "5"), "data: expected a map of keys, got '5'");
  EXPECT_HAS(error_with("", "train", "[1, 2]"), "train: expected a map of keys");
  EXPECT_HAS(error_of(YAML::Load("[1, 2]")), "expected a map of sections at the top level");
}

TEST(Recipe, WrongTypesNameTheKeyAndValue) {
  EXPECT_HAS(error_with("train", "epochs", "ten"), "train.epochs: expected an integer, got 'ten'");
  EXPECT_HAS(error_with("train", "epochs", "2.5"), "train.epochs: expected an integer, got '2.5'");
  EXPECT_HAS(error_with("train", "lr", "fast"), "train.lr: expected a number, got 'fast'");
  EXPECT_HAS(error_with("train", "nesterov", "maybe"), "train.nesterov: expected true or false, got 'maybe'");
  EXPECT_HAS(error_with("data", "val_size", "[1]"), "data.val_size: expected an integer");
  EXPECT_HAS(error_with("eval", "noise_sigmas", "0.1"), "eval.noise_sigmas: expected a list of numbers, got '0.1'");
  EXPECT_HAS(error_with("model", "width_mult", "wide"), "model.width_mult: expected a number, got 'wide'");
  EXPECT_HAS(error_with("", "seed", "abc"), "seed: expected a non-negative integer, got 'abc'");
  EXPECT_HAS(error_with("", "seeds", "[0, x]"), "seeds: expected non-negative integers, got 'x'");
  EXPECT_HAS(error_with("", "seeds", "[]"), "seeds: expected a non-empty list of integers");
}

TEST(Recipe, BadValuesAreRejected) {
  EXPECT_HAS(error_with("train", "epochs", "0"), "train.epochs must be a positive integer, got 0");
  EXPECT_HAS(error_with("train", "epochs", "-3"), "train.epochs must be a positive integer, got -3");
  EXPECT_HAS(error_with("train", "batch_size", "0"), "train.batch_size must be a positive integer, got 0");
  EXPECT_HAS(error_with("train", "lr", "-0.1"), "train.lr must be a positive finite number, got -0.1");
  EXPECT_HAS(error_with("train", "lr", "0"), "train.lr must be a positive finite number, got 0");
  EXPECT_HAS(error_with("train", "lr", ".nan"), "train.lr must be a positive finite number, got nan");
  EXPECT_HAS(error_with("train", "optimizer", "rmsprop"), "train.optimizer must be sgd, adam or adamw, got 'rmsprop'");
  EXPECT_HAS(error_with("train", "schedule", "linear"), "train.schedule must be cosine, step or constant, got 'linear'");
  EXPECT_HAS(error_with("train", "momentum", "1.5"), "momentum must be in [0,1), got 1.5");
  EXPECT_HAS(error_with("train", "input", "noisy"), "train.input must be original or augmented, got 'noisy'");
  EXPECT_HAS(error_with("data", "val_size", "-1"), "data.val_size must be >= 0, got -1");
  EXPECT_HAS(error_with("data", "test_limit", "-5"), "data.test_limit must be >= 0, got -5");
  EXPECT_HAS(error_with("eval", "noise_sigmas", "[0.1, 2]"), "eval.noise_sigmas: each must be in [0,1], got 2");
  EXPECT_HAS(error_with("train", "precision", "fp16"), "train.precision must be fp32 or bf16, got 'fp16'");
  EXPECT_HAS(error_with("train", "channels_last", "maybe"), "train.channels_last");
  auto root = base();
  root["teacher"] = YAML::Load("{recipe: t.yaml}");
  EXPECT_HAS(error_of(root), "teacher.checkpoint: required when a teacher is given");
  root["teacher"] = YAML::Load("{checkpoint: t.pt, precision: int8}");
  EXPECT_HAS(error_of(root), "teacher.precision must be fp32 or bf16, got 'int8'");
}

TEST(Recipe, PrecisionOptionsParse) {
  auto root = base();
  root["train"]["precision"] = "bf16";
  root["train"]["channels_last"] = true;
  root["teacher"] = YAML::Load("{checkpoint: t.pt, precision: bf16, channels_last: true}");
  const auto r = parse_recipe(root, "r.yaml");
  EXPECT_EQ(r.precision, "bf16");
  EXPECT_TRUE(r.channels_last);
  EXPECT_EQ(r.teacher_precision, "bf16");
  EXPECT_TRUE(r.teacher_channels_last);
  const auto d = parse_recipe(base(), "r.yaml");
  EXPECT_EQ(d.precision, "fp32");
  EXPECT_FALSE(d.channels_last);
  EXPECT_EQ(d.teacher_precision, "fp32");
}

TEST(Recipe, ErrorsNameTheFileOnlyWhenThereIsOne) {
  auto root = base();
  root["train"]["epochs"] = 0;
  EXPECT_HAS(error_of(root, "recipes/x.yaml"), "recipe recipes/x.yaml: train.epochs");
  EXPECT_EQ(error_of(root, "").rfind("train.epochs", 0), 0u) << error_of(root, "");
}

TEST(Recipe, OverridesCreateAndReplaceValues) {
  const auto path = write("ovr.yaml", kBase);
  const auto r = load_recipe(path, {"train.epochs=5", "train.lr=0.2", "seed=11", "model.width_mult=0.5",
                                    "eval.noise_sigmas=[0.05, 0.3]", "train.label_smoothing=0.1",
                                    "teacher.checkpoint=t.pt", "train.epochs=7"});
  EXPECT_EQ(r.epochs, 7);  // applied in order: the last one wins
  EXPECT_DOUBLE_EQ(r.optim.lr, 0.2);
  EXPECT_EQ(r.seed, 11u);
  EXPECT_EQ(r.seeds, std::vector<uint64_t>{11});
  EXPECT_DOUBLE_EQ(r.width_mult, 0.5);
  EXPECT_EQ(r.noise_sigmas, (std::vector<double>{0.05, 0.3}));
  EXPECT_DOUBLE_EQ(r.label_smoothing, 0.1);
  EXPECT_EQ(r.teacher_checkpoint, "t.pt");  // a whole section created by an override
  EXPECT_TRUE(r.distills());
  EXPECT_EQ(r.source, path);
  // The resolved tree (written into run directories) holds the overridden values.
  EXPECT_EQ(r.resolved["train"]["epochs"].as<int>(), 7);
  EXPECT_EQ(r.resolved["teacher"]["checkpoint"].as<std::string>(), "t.pt");
  // Without overrides the file's values stand.
  EXPECT_EQ(load_recipe(path).epochs, 2);
}

TEST(Recipe, BadOverrides) {
  const auto path = write("ovr_bad.yaml", kBase);
  auto error = [&](const std::string& o) -> std::string {
    try {
      load_recipe(path, {o});
    } catch (const kdaug::Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_HAS(error("train.lrr=0.1"), "train.lrr: unknown key (did you mean lr?)");
  EXPECT_HAS(error("train.epochs"), "--set expects key.path=value, got 'train.epochs'");
  EXPECT_HAS(error("=3"), "--set expects key.path=value");
  EXPECT_HAS(error("train..lr=0.1"), "--set: empty key in path 'train..lr'");
  EXPECT_HAS(error("train.epochs.x=1"), "--set train.epochs.x: epochs is not a map");
  EXPECT_HAS(error("train.epochs=0"), "train.epochs must be a positive integer, got 0");
  EXPECT_HAS(error("train.epochs=[1"), "--set train.epochs: cannot parse value '[1'");
}

TEST(Recipe, MissingFileAndMalformedYaml) {
  try {
    load_recipe("/nonexistent/dir/r.yaml");
    FAIL() << "no error";
  } catch (const kdaug::Error& e) {
    EXPECT_HAS(std::string(e.what()), "recipe not found: /nonexistent/dir/r.yaml");
  }
  const auto path = write("malformed.yaml", "name: x\ntrain:\n  epochs: 2\n  lr: [0.1\nmodel: {name: resnet8}\n");
  try {
    load_recipe(path);
    FAIL() << "no error";
  } catch (const kdaug::Error& e) {
    const std::string m = e.what();
    EXPECT_HAS(m, "recipe " + path + ": YAML error at line ");
    // The bracket opened on line 4 is never closed: the parser notices on line 4 or 5.
    EXPECT_TRUE(m.find("at line 4") != std::string::npos || m.find("at line 5") != std::string::npos) << m;
  }
}

TEST(Recipe, ShippedRecipesParse) {
  const fs::path dir = fs::path(KDAUG_SOURCE_DIR) / "recipes" / "fmnist";
  int n = 0;
  for (const char* f : {"teacher.yaml", "ce.yaml", "ce_da.yaml", "kd.yaml", "kd_da.yaml", "synergy.yaml"}) {
    if (!fs::exists(dir / f)) continue;
    const auto r = load_recipe((dir / f).string());
    EXPECT_FALSE(r.name.empty()) << f;
    EXPECT_GT(r.epochs, 0) << f;
    ++n;
  }
  EXPECT_GE(n, 1);
  // The ablation arms share the student, epochs and optimiser (BENCHMARK.md: only the objective/views differ).
  if (fs::exists(dir / "ce.yaml") && fs::exists(dir / "synergy.yaml")) {
    const auto ce = load_recipe((dir / "ce.yaml").string());
    const auto syn = load_recipe((dir / "synergy.yaml").string());
    EXPECT_EQ(ce.model, syn.model);
    EXPECT_EQ(ce.epochs, syn.epochs);
    EXPECT_DOUBLE_EQ(ce.optim.lr, syn.optim.lr);
    EXPECT_FALSE(ce.distills());
    EXPECT_TRUE(syn.distills());
  }
}
