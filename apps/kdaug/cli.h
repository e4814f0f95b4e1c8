// The kdaug command line: argv -> plain option structs -> library calls. This folder is the only
// code that reads argv, the environment or the terminal state.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kdaug::cli {

// Options shared by every command that computes.
struct RuntimeArgs {
  int threads = 0;              // intra-op threads; 0 = all cores (LibTorch's default is 1 here)
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  uint64_t seed = 0;            // every random stream derives from it
};

// Which data to use.
struct DataArgs {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100
  std::string data_dir;                   // default: the dataset's standard directory
  int64_t val_size = 5000;                // held out from train for choices made in training
  int64_t train_limit = 0;                // use only the first N training images (0 = all)
  int64_t test_limit = 0;                 // use only the first N test images (0 = all)
};

struct TrainArgs {
  RuntimeArgs rt;
  DataArgs data;
  std::string model = "resnet20";  // registry name (kdaug models)
  double width_mult = 1.0;         // vgg/mobilenetv2 channel multiplier
  int64_t epochs = 5;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";   // sgd | adam | adamw
  double lr = 0.1;                 // peak learning rate
  double momentum = 0.9;
  bool no_nesterov = false;        // plain momentum instead of Nesterov
  double weight_decay = 5e-4;
  std::string schedule = "cosine"; // cosine | step | constant
  double warmup_epochs = 0;
  std::vector<double> milestones;  // step schedule epochs
  double gamma = 0.1;              // step schedule factor
  double label_smoothing = 0;
  std::string recipe;              // YAML recipe whose augment:/perturb: lists are used
  std::string out;                 // run directory (default runs/train-<model>-s<seed>)
  bool resume = false;             // continue the run in --out from its last checkpoint
  int64_t max_steps = 0;           // cut each epoch after N steps (smoke tests)
  bool no_prefetch = false;        // prepare batches on the training thread
  bool profile = false;            // print where each step's time goes (per epoch; profile.json)
};

struct EvalArgs {
  RuntimeArgs rt;                  // --seed also seeds the validation split (default: the checkpoint's)
  bool seed_given = false;         // --seed was on the command line
  DataArgs data;
  std::string checkpoint;          // the model to evaluate
  std::string teacher;             // teacher checkpoint for the fidelity suite
  std::string baseline;            // baseline checkpoint: corruption errors relative to it (mCE)
  std::string suite = "clean";     // comma list of clean,noise,corrupt,adv,calib,fidelity,cost, or all
  std::string json_out;            // eval.json path (default: next to the checkpoint)
  int64_t batch_size = 500;
  std::vector<double> noise_sigmas{0, 0.05, 0.1, 0.2, 0.3};  // noise sweep std on [0,1] images
  std::vector<std::string> corruptions;                      // corruption names (empty = all)
  std::vector<int> severities{1, 2, 3, 4, 5};
  int64_t corrupt_limit = 0;       // corruption suite on the first N test images (0 = all)
  std::vector<double> adv_eps{1, 4, 8};  // L-inf radii in grey levels (x/255)
  std::string attacks = "fgsm,pgd";      // fgsm, pgd or both
  int pgd_steps = 20;
  int pgd_restarts = 1;
  bool no_random_start = false;    // PGD from the clean image instead of a random point
  int64_t adv_limit = 1000;        // attacks on the first N test images (0 = all): PGD is costly
  int64_t bins = 15;               // calibration (ECE) bins
};

struct RunArgs {
  RuntimeArgs rt;                  // --seed here overrides the recipe's seed when given
  bool seed_given = false;
  std::string recipe;              // YAML recipe (recipes/fmnist/*.yaml)
  std::vector<std::string> sets;   // --set key.path=value overrides, applied in order
  std::string out;                 // run directory (default runs/<recipe name>-s<seed>)
  bool resume = false;             // continue an interrupted run in --out
  int64_t max_steps = 0;           // cut each epoch after N steps (smoke tests)
  bool profile = false;            // print where each step's time goes (per epoch; profile.json)
};

struct DistillArgs {
  RunArgs run;                     // --recipe optional here: the canonical synergy recipe by default
  std::string teacher;             // teacher checkpoint
  std::string student = "resnet8"; // student model name
  int64_t epochs = 0;              // 0: the recipe's
};

struct ModelsArgs {
  int64_t channels = 1, height = 28, width = 28, classes = 10;  // input shape for the counts
  bool json = false;                                              // JSON instead of a table
};

// Where a command writes: results to `out` (tables, JSON), progress and notes to `log`.
struct Io {
  std::ostream& out;
  std::ostream& log;
  bool interactive = false;  // `log` is a terminal: redraw progress lines in place
};

// Runs the command line; returns the process exit code. Errors are printed to io.log as one
// line "kdaug: error: ...".
int run(int argc, const char* const* argv, const Io& io);

// Commands (each in its own cmd_*.cpp). They throw kdaug::Error on bad input.
int cmd_train(const TrainArgs& a, const Io& io);
int cmd_eval(const EvalArgs& a, const Io& io);
// Declares the eval options (all but the runtime and data groups) on `sub` (cmd_eval.cpp).
void add_eval_options(CLI::App& sub, EvalArgs& a);
int cmd_models(const ModelsArgs& a, const Io& io);
int cmd_run(const RunArgs& a, const Io& io);
int cmd_distill(const DistillArgs& a, const Io& io);

}  // namespace kdaug::cli
