// The training loop: epochs of steps with a pluggable loss, a per-step LR schedule, validation,
// per-epoch atomic checkpoints that resume to the same result, metrics.jsonl and progress lines.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <iosfwd>
#include <map>
#include <string>

#include "kdaug/data/dataset.h"
#include "kdaug/data/loader.h"
#include "kdaug/models/model.h"
#include "kdaug/train/optim.h"
#include "kdaug/train/profile.h"

namespace kdaug::train {

struct TrainOptions {
  int64_t epochs = 5;               // > 0
  int64_t batch_size = 128;         // > 0
  OptimizerOptions optim;           // optimiser and peak lr
  ScheduleOptions schedule;         // lr over the run
  double label_smoothing = 0.0;     // default CE step only, in [0,1)
  uint64_t seed = 0;                // shuffling, augmentation, initialisation streams derive from it
  std::string run_dir;              // checkpoints + metrics.jsonl go here (required)
  bool resume = false;              // continue from run_dir/last.pt when it exists
  bool interactive = false;         // live progress line (a terminal) vs plain lines
  c10::Device device = c10::Device(c10::kCPU);
  int64_t max_steps_per_epoch = 0;  // > 0: cut epochs short (tests, smoke runs)
  bool prefetch = true;             // prepare the next batch on a background thread
  int64_t stop_after_epoch = 0;     // > 0: return after this epoch, as if interrupted (time slicing)
  nlohmann::json meta;              // stored in every checkpoint (recipe, versions, ...)
  std::string precision = "fp32";   // fp32 | bf16 (autocast: convolutions and matmuls in bfloat16,
                                    //   weights, optimiser state and losses stay fp32)
  bool channels_last = false;       // NHWC weights and inputs (faster convolutions with bf16 on CPU)
  bool profile = false;             // time each phase of a step; table per epoch in the log + profile.json
};

// What one step returns: the loss to back-propagate, logits on the batch's labels for the
// running accuracy (may be undefined), and named loss terms for logging.
struct StepOutput {
  at::Tensor loss;
  at::Tensor logits;
  std::map<std::string, double> terms;
};
using StepFn = std::function<StepOutput(models::ClassifierImpl& model, const data::Batch& batch)>;

// The plain supervised step: cross-entropy (with label smoothing) on batch.images.
StepFn cross_entropy_step(double label_smoothing);

struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, train_acc = 0, lr = 0, seconds = 0, images_per_s = 0;
  double val_acc = -1, val_nll = -1;  // -1 when there is no validation set
  std::map<std::string, double> terms;
  nlohmann::json to_json() const;
};

struct TrainResult {
  std::vector<EpochRecord> history;  // every epoch, including ones done before a resume
  int64_t best_epoch = 0;
  double best_val_acc = -1;
  std::string last_checkpoint, best_checkpoint;
};

// Accuracy and mean NLL of `model` on a dataset (eval mode, no gradient, batches of `batch`).
std::pair<double, double> accuracy_nll(models::ClassifierImpl& model, const data::Dataset& ds, int64_t batch = 500);

class Trainer {
 public:
  Trainer(models::Classifier model, TrainOptions opts, std::ostream& log);

  // Replaces the default cross-entropy step (distillation objectives plug in here).
  void set_step(StepFn step) { step_ = std::move(step); }
  // Extra trainable tensors optimised with the model (e.g. a FitNets adapter); call before fit().
  void add_parameters(const std::vector<at::Tensor>& params);
  // Runs on the loader's background thread after each batch reaches the device (augmentation).
  void set_batch_transform(data::BatchTransform t) { transform_ = std::move(t); }
  // Called after every epoch, once its line is in metrics.jsonl and its checkpoint is saved
  // (TensorBoard events, ...). Epochs restored by a resume are not replayed.
  void set_on_epoch(std::function<void(const EpochRecord&)> f) { on_epoch_ = std::move(f); }

  // Trains for opts.epochs (or the remaining ones after a resume). `val` may be null.
  TrainResult fit(const data::Dataset& train, const data::Dataset* val);

  models::ClassifierImpl& model() { return *model_; }
  // The step profiler when opts.profile is set (null otherwise): step functions may time their
  // own phases into it (the teacher's forward, ...).
  Profiler* profiler() { return profiler_.get(); }

 private:
  void save_checkpoint(const std::string& path, int64_t epoch_done, const TrainResult& r);
  int64_t load_checkpoint(const std::string& path, TrainResult& r);

  models::Classifier model_;
  TrainOptions opts_;
  std::ostream& log_;
  StepFn step_;
  data::BatchTransform transform_;
  std::function<void(const EpochRecord&)> on_epoch_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::shared_ptr<Profiler> profiler_;
};

void validate(const TrainOptions& o);

}  // namespace kdaug::train
