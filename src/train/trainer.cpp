#include "kdaug/train/trainer.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize/archive.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"
#include "kdaug/models/layout.h"
#include "kdaug/core/io.h"
#include "kdaug/core/progress.h"
#include "kdaug/models/checkpoint.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace kdaug::train {

void validate(const TrainOptions& o) {
  KDAUG_CHECK(o.epochs > 0, "epochs must be a positive integer, got ", o.epochs);
  KDAUG_CHECK(o.batch_size > 0, "batch size must be a positive integer, got ", o.batch_size);
  KDAUG_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1, "label smoothing must be in [0,1), got ",
              o.label_smoothing);
  KDAUG_CHECK(!o.run_dir.empty(), "a run directory is required");
  KDAUG_CHECK(o.precision == "fp32" || o.precision == "bf16", "precision must be fp32 or bf16, got '", o.precision,
              "'");
  KDAUG_CHECK(o.max_steps_per_epoch >= 0, "max steps per epoch must be >= 0, got ", o.max_steps_per_epoch);
  validate(o.optim);
  validate(o.schedule);
}

StepFn cross_entropy_step(double label_smoothing) {
  return [label_smoothing](models::ClassifierImpl& model, const data::Batch& b) {
    StepOutput out;
    out.logits = model.forward(b.images);
    out.loss = F::cross_entropy(compat::at_least_fp32(out.logits), b.labels, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
    out.terms["ce"] = out.loss.item<double>();
    return out;
  };
}

nlohmann::json EpochRecord::to_json() const {
  nlohmann::json j = {{"epoch", epoch},   {"train_loss", train_loss}, {"train_acc", train_acc},
                      {"lr", lr},         {"seconds", seconds},       {"images_per_s", images_per_s}};
  if (val_acc >= 0) {
    j["val_acc"] = val_acc;
    j["val_nll"] = val_nll;
  }
  for (const auto& [k, v] : terms) j["loss_" + k] = v;
  return j;
}

namespace {
EpochRecord record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int64_t>();
  r.train_loss = j.at("train_loss").get<double>();
  r.train_acc = j.at("train_acc").get<double>();
  r.lr = j.at("lr").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.images_per_s = j.at("images_per_s").get<double>();
  r.val_acc = j.value("val_acc", -1.0);
  r.val_nll = j.value("val_nll", -1.0);
  for (const auto& [k, v] : j.items()) {
    if (k.rfind("loss_", 0) == 0) r.terms[k.substr(5)] = v.get<double>();
  }
  return r;
}

void write_metrics(const std::string& path, const std::vector<EpochRecord>& history) {
  write_file_atomic(path, [&](std::ostream& out) {
    for (const auto& r : history) out << r.to_json().dump() << '\n';
  });
}
}  // namespace

std::pair<double, double> accuracy_nll(models::ClassifierImpl& model, const data::Dataset& ds, int64_t batch) {
  const bool was_training = model.is_training();
  model.eval();
  c10::InferenceMode guard;
  const auto device = model.parameters().empty() ? c10::Device(c10::kCPU) : model.parameters().front().device();
  int64_t correct = 0;
  double nll = 0;
  for (int64_t i = 0; i < ds.size(); i += batch) {
    const int64_t n = std::min(batch, ds.size() - i);
    auto x = ds.images.narrow(0, i, n).to(device).to(at::kFloat).div_(255.0);
    auto y = ds.labels.narrow(0, i, n).to(device);
    auto logits = model.forward(x).to(at::kFloat);
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    nll += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
  }
  model.train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(ds.size(), 1));
  return {static_cast<double>(correct) / n, nll / n};
}

Trainer::Trainer(models::Classifier model, TrainOptions opts, std::ostream& log)
    : model_(std::move(model)), opts_(std::move(opts)), log_(log), step_(cross_entropy_step(opts_.label_smoothing)) {
  validate(opts_);
  model_->to(opts_.device);
  if (opts_.channels_last) models::to_channels_last(*model_);
  optimizer_ = make_optimizer(model_->parameters(), opts_.optim);
  if (opts_.profile) profiler_ = std::make_shared<Profiler>(opts_.device);
}

void Trainer::add_parameters(const std::vector<at::Tensor>& params) {
  if (params.empty()) return;
  auto all = model_->parameters();
  for (const auto& p : params) all.push_back(p);
  optimizer_ = make_optimizer(all, opts_.optim);
}

void Trainer::save_checkpoint(const std::string& path, int64_t epoch_done, const TrainResult& r) {
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& e : r.history) hist.push_back(e.to_json());
  nlohmann::json meta = opts_.meta;
  meta["epoch"] = epoch_done;
  meta["epochs"] = opts_.epochs;
  meta["seed"] = opts_.seed;
  if (!r.history.empty() && r.history.back().val_acc >= 0) meta["val_acc"] = r.history.back().val_acc;
  models::save_model(path, *model_, meta, [&](torch::serialize::OutputArchive& ar) {
    torch::serialize::OutputArchive opt;
    optimizer_->save(opt);
    ar.write("optimizer", opt);
    ar.write("trainer.epoch", c10::IValue(epoch_done));
    ar.write("trainer.seed", c10::IValue(static_cast<int64_t>(opts_.seed)));
    ar.write("trainer.best_epoch", c10::IValue(r.best_epoch));
    ar.write("trainer.best_val_acc", c10::IValue(r.best_val_acc));
    ar.write("trainer.history", c10::IValue(hist.dump()));
  });
}

int64_t Trainer::load_checkpoint(const std::string& path, TrainResult& r) {
  int64_t epoch = 0;
  std::string hist;
  int64_t seed = 0;
  // The optimiser state is loaded only after the model and seed checks: loading it into another
  // model's optimiser fails with a message that hides the real cause.
  torch::serialize::InputArchive opt;
  auto loaded = models::load_model(path, opts_.device, [&](torch::serialize::InputArchive& ar) {
    ar.read("optimizer", opt);
    c10::IValue v;
    ar.read("trainer.epoch", v);
    epoch = v.toInt();
    ar.read("trainer.seed", v);
    seed = v.toInt();
    ar.read("trainer.best_epoch", v);
    r.best_epoch = v.toInt();
    ar.read("trainer.best_val_acc", v);
    r.best_val_acc = v.toDouble();
    ar.read("trainer.history", v);
    hist = v.toStringRef();
  });
  KDAUG_CHECK(loaded.spec.name == model_->spec().name, "cannot resume: checkpoint ", path, " belongs to model ",
              loaded.spec.name, ", not ", model_->spec().name);
  KDAUG_CHECK(static_cast<uint64_t>(seed) == opts_.seed, "cannot resume: checkpoint ", path, " was trained with seed ",
              seed, ", this run has seed ", opts_.seed);
  try {
    optimizer_->load(opt);
  } catch (const std::exception& e) {
    KDAUG_FAIL("cannot resume: checkpoint ", path, ": optimiser state does not match: ", describe_exception(e));
  }
  {
    torch::NoGradGuard ng;
    auto src = loaded.model->named_parameters(true);
    for (auto& p : model_->named_parameters(true)) p.value().copy_(src[p.key()]);
    auto srcb = loaded.model->named_buffers(true);
    for (auto& b : model_->named_buffers(true)) b.value().copy_(srcb[b.key()]);
  }
  r.history.clear();
  for (const auto& j : nlohmann::json::parse(hist)) r.history.push_back(record_from_json(j));
  return epoch;
}

TrainResult Trainer::fit(const data::Dataset& train_set, const data::Dataset* val) {
  TrainResult result;
  const std::string last = (fs::path(opts_.run_dir) / "last.pt").string();
  const std::string best = (fs::path(opts_.run_dir) / "best.pt").string();
  const std::string metrics = (fs::path(opts_.run_dir) / "metrics.jsonl").string();
  result.last_checkpoint = last;
  fs::create_directories(opts_.run_dir);

  int64_t start_epoch = 0;
  if (opts_.resume && fs::exists(last)) {
    start_epoch = load_checkpoint(last, result);
    log_ << "resuming " << last << " after epoch " << start_epoch << "/" << opts_.epochs << "\n";
    write_metrics(metrics, result.history);  // drop lines of an epoch that did not reach its checkpoint
  } else if (fs::exists(metrics)) {
    fs::remove(metrics);
  }

  data::LoaderOptions lo;
  lo.batch_size = opts_.batch_size;
  lo.shuffle = true;
  lo.drop_last = true;  // equal-size batches keep BatchNorm statistics well-behaved
  lo.seed = opts_.seed;
  lo.prefetch = opts_.prefetch;
  lo.device = opts_.device;
  data::BatchTransform transform = transform_;
  if (profiler_ && transform_) {
    // Augmentation runs on the loader's thread (overlapped with training when prefetching).
    transform = [t = transform_, p = profiler_, bg = opts_.prefetch](data::Batch& b) {
      PhaseTimer timer(p.get(), "augment + views", bg);
      t(b);
    };
  }
  data::Loader loader(train_set, lo, transform);
  Profiler* prof = profiler_.get();
  int64_t steps = loader.batches_per_epoch();
  if (opts_.max_steps_per_epoch > 0) steps = std::min(steps, opts_.max_steps_per_epoch);
  KDAUG_CHECK(steps > 0, "training set of ", train_set.size(), " samples has no full batch of ", opts_.batch_size);
  const int64_t total_steps = steps * opts_.epochs;

  for (int64_t epoch = start_epoch; epoch < opts_.epochs; ++epoch) {
    model_->train();
    loader.start_epoch(epoch);
    ProgressOptions po;
    po.interactive = opts_.interactive;
    Progress progress(log_, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(opts_.epochs),
                      steps * opts_.batch_size, po);
    double loss_sum = 0, lr = 0;
    int64_t correct = 0, seen = 0, labelled = 0;
    std::map<std::string, double> term_sums;
    if (prof) prof->reset();
    for (int64_t s = 0; s < steps; ++s) {
      c10::optional<data::Batch> batch;
      {
        PhaseTimer timer(prof, "data wait");
        batch = loader.next();
      }
      if (!batch) break;
      if (prof) prof->count_step();
      const int64_t global = epoch * steps + s;
      lr = lr_at(opts_.schedule, opts_.optim.lr, global, total_steps, steps);
      set_lr(*optimizer_, lr);
      optimizer_->zero_grad();
      if (opts_.channels_last) batch->images = batch->images.contiguous(at::MemoryFormat::ChannelsLast);
      StepOutput out;
      {
        const double teacher_before = prof ? prof->phases()["teacher"].seconds : 0;
        const auto t0 = std::chrono::steady_clock::now();
        {
          compat::AutocastGuard amp(opts_.precision == "bf16", opts_.device);
          out = step_(*model_, *batch);
        }
        if (prof) {
          // The step function's own phases (the teacher) are charged to them, the rest to the student.
          prof->sync();
          const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          prof->add("student forward + loss", total - (prof->phases()["teacher"].seconds - teacher_before));
        }
      }
      {
        PhaseTimer timer(prof, "backward");
        out.loss = out.loss.to(at::kFloat);
        out.loss.backward();
      }
      {
        PhaseTimer timer(prof, "optimiser");
        optimizer_->step();
      }
      const double l = out.loss.item<double>();
      KDAUG_CHECK(std::isfinite(l), "training diverged: loss is ", l, " at epoch ", epoch + 1, " step ", s + 1,
                  " (lower the learning rate)");
      const int64_t b = batch->labels.size(0);
      loss_sum += l * static_cast<double>(b);
      for (const auto& [k, v] : out.terms) term_sums[k] += v * static_cast<double>(b);
      seen += b;
      if (out.logits.defined() && out.logits.size(0) == b) {
        correct += out.logits.argmax(1).eq(batch->labels).sum().item<int64_t>();
        labelled += b;
      }
      char extra[96];
      std::snprintf(extra, sizeof(extra), "loss %.4f acc %.3f lr %.4f", loss_sum / seen,
                    labelled ? static_cast<double>(correct) / labelled : 0.0, lr);
      progress.update(seen, extra);
    }
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = loss_sum / std::max<int64_t>(seen, 1);
    rec.train_acc = labelled ? static_cast<double>(correct) / labelled : 0.0;
    rec.lr = lr;
    rec.seconds = progress.elapsed_s();
    rec.images_per_s = static_cast<double>(seen) / std::max(rec.seconds, 1e-9);
    for (const auto& [k, v] : term_sums) rec.terms[k] = v / std::max<int64_t>(seen, 1);
    std::string extra;
    if (val != nullptr && val->size() > 0) {
      std::tie(rec.val_acc, rec.val_nll) = accuracy_nll(*model_, *val);
      char buf[64];
      std::snprintf(buf, sizeof(buf), " val_acc %.4f val_nll %.4f", rec.val_acc, rec.val_nll);
      extra = buf;
    }
    char buf[96];
    std::snprintf(buf, sizeof(buf), "loss %.4f acc %.4f", rec.train_loss, rec.train_acc);
    progress.finish(buf + extra);
    if (prof) {
      log_ << "profile of epoch " << rec.epoch << ":\n" << prof->table();
      auto pj = prof->to_json();
      pj["epoch"] = rec.epoch;
      write_text_atomic((fs::path(opts_.run_dir) / "profile.json").string(), pj.dump(2) + "\n");
    }
    result.history.push_back(rec);
    const bool improved = rec.val_acc > result.best_val_acc || result.best_epoch == 0;
    if (improved) {
      result.best_val_acc = rec.val_acc;
      result.best_epoch = rec.epoch;
    }
    save_checkpoint(last, rec.epoch, result);
    if (improved) {
      write_path_atomic(best, [&](const std::string& tmp) { fs::copy_file(last, tmp, fs::copy_options::overwrite_existing); });
    }
    append_line(metrics, rec.to_json().dump());
    if (on_epoch_) on_epoch_(rec);
    if (opts_.stop_after_epoch > 0 && rec.epoch >= opts_.stop_after_epoch) break;
  }
  if (fs::exists(best)) result.best_checkpoint = best;
  return result;
}

}  // namespace kdaug::train
