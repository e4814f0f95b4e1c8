#include "kdaug/run.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <ostream>

#include "kdaug/core/config.h"
#include "kdaug/core/progress.h"
#include "kdaug/core/rng.h"
#include "kdaug/eval/metrics.h"
#include "kdaug/models/registry.h"

namespace kdaug::cli {

namespace {
nlohmann::json model_metrics(models::ClassifierImpl& m, const data::Dataset& test, const std::vector<double>& sigmas,
                             uint64_t seed, at::Tensor* clean_logits) {
  nlohmann::json j;
  const auto x = test.images.to(at::kFloat).div_(255.0);
  const auto logits = eval::predict_logits(m, x);
  const auto rep = eval::report_from_logits(logits, test.labels, test.num_classes);
  j["model"] = m.spec().name;
  j["params"] = models::count_parameters(m);
  j["test_acc"] = rep.accuracy;
  j["test_nll"] = rep.nll;
  nlohmann::json noise = nlohmann::json::object();
  for (double s : sigmas) {
    auto gen = make_generator(derive_seed(seed, "eval-noise"));
    const auto noisy = (x + at::randn(x.sizes(), gen, x.options()) * s).clamp_(0, 1);
    const auto r = eval::report_from_logits(eval::predict_logits(m, noisy), test.labels, test.num_classes);
    char key[32];
    std::snprintf(key, sizeof(key), "%g", s);
    noise[key] = r.accuracy;
  }
  j["noise_acc"] = noise;
  if (clean_logits) *clean_logits = logits;
  return j;
}
}  // namespace

nlohmann::json summarize(models::ClassifierImpl& student, models::ClassifierImpl* teacher, const data::Dataset& test,
                         const std::vector<double>& sigmas, uint64_t seed, const Io& io) {
  io.log << "evaluating on " << test.size() << " test images (clean";
  for (double s : sigmas) io.log << ", noise sigma " << s;
  io.log << ")\n";
  nlohmann::json j;
  at::Tensor s_logits, t_logits;
  j["student"] = model_metrics(student, test, sigmas, seed, &s_logits);
  if (teacher != nullptr) {
    j["teacher"] = model_metrics(*teacher, test, sigmas, seed, &t_logits);
    j["student"]["teacher_agreement"] = s_logits.argmax(1).eq(t_logits.argmax(1)).to(at::kDouble).mean().item<double>();
  }
  return j;
}

PreparedCache prepare_cache(const train::Recipe& r, const data::Splits& splits, const distill::Teacher& teacher,
                            const distill::Objective& objective, const augment::AugmentConfig& cfg, const Io& io,
                            int64_t stop_after_images) {
  PreparedCache out;
  out.cached.role = train::cached_role(objective, r.input == "augmented");
  const bool whole_file = r.data.train_limit == 0;
  const data::Dataset& ds = whole_file ? splits.source : splits.train;
  const augment::Pipeline none;
  const augment::Pipeline& views = out.cached.role == train::CachedRole::Original ? none : cfg.augment;

  distill::CacheKey key;
  key.teacher_checkpoint = r.teacher_checkpoint;
  key.teacher_hash = distill::hash_file_hex(r.teacher_checkpoint);
  key.teacher_options = teacher.numerics();
  key.augment = views.empty() ? "identity" : views.describe();
  key.augment_hash = distill::hash_bytes_hex(key.augment.data(), key.augment.size());
  key.dataset = distill::dataset_identity(r.data.dataset + (whole_file ? "/train-file" : "/train-split"), ds.images,
                                          ds.labels);
  key.num_images = ds.size();
  key.views = views.empty() ? 1 : r.cache.views;
  key.num_classes = ds.num_classes;
  key.storage = r.cache.storage;
  key.topk = r.cache.topk;
  key.seed = r.cache.seed;
  const std::string path =
      !r.cache.path.empty()
          ? r.cache.path
          : (std::filesystem::path("runs/cache") /
             (std::filesystem::path(r.teacher_checkpoint).stem().string() + "-" + key.hash() + ".slc"))
                .string();

  const auto device = teacher.model()->parameters().front().device();
  const int64_t batch = r.cache.batch_size;
  const distill::LogitsFn logits = [&teacher, device, batch](const at::Tensor& x) {
    std::vector<at::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += batch) {
      parts.push_back(teacher(x.narrow(0, i, std::min(batch, x.size(0) - i)).to(device)).to(at::kCPU, at::kFloat));
    }
    return at::cat(parts);
  };
  distill::BuildOptions bo;
  bo.log = &io.log;
  bo.interactive = io.interactive;
  bo.stop_after_images = stop_after_images;
  const auto rep = distill::SoftLabelCache::ensure(path, key, ds.images, views, logits, r.cache.on_mismatch, bo);
  out.info = {{"path", path},
              {"views", key.views},
              {"images", key.num_images},
              {"storage", key.storage},
              {"topk", key.topk},
              {"bytes_per_view", key.bytes_per_view()},
              {"built", rep.built},
              {"resumed", rep.resumed},
              {"complete", rep.complete},
              {"build_seconds", rep.seconds}};
  if (!rep.complete) return out;
  auto cache = distill::SoftLabelCache::open(path, &key);
  out.info["file_bytes"] = cache->file_bytes();
  io.log << "soft-label cache " << path << ": " << key.num_images << " images x " << key.views << " views, "
         << key.bytes_per_view() << " bytes per view (" << cache->file_bytes() << " bytes), "
         << (rep.built ? "built in " + format_duration(rep.seconds) : std::string("reused")) << "\n";
  out.cached.cache = cache;
  if (whole_file && splits.train.origin.defined()) out.cached.origin = splits.train.origin;
  return out;
}

distill::Teacher load_teacher(const train::Recipe& r, c10::Device device, const Io& io) {
  distill::TeacherOptions to;
  to.precision = r.teacher_precision;
  to.channels_last = r.teacher_channels_last;
  to.fold_bn = r.teacher_fold_bn;
  auto teacher = distill::Teacher::load(r.teacher_checkpoint, device, to);
  io.log << "teacher " << r.teacher_checkpoint << " (" << teacher.spec().name << ", " << to.precision
         << (to.channels_last ? ", channels-last" : "") << "): " << teacher.folded_batch_norms()
         << " BatchNorms folded into their convolutions\n";
  return teacher;
}

double teacher_precision_agreement(const distill::Teacher& teacher, const data::Dataset& test) {
  const auto x = test.images.to(at::kFloat).div_(255.0);
  const auto fp32 = eval::predict_logits(*teacher.model(), x).argmax(1);
  int64_t same = 0;
  constexpr int64_t kBatch = 500;
  for (int64_t i = 0; i < x.size(0); i += kBatch) {
    const int64_t n = std::min(kBatch, x.size(0) - i);
    const auto dev = teacher.model()->parameters().front().device();
    same += teacher(x.narrow(0, i, n).to(dev)).argmax(1).cpu().eq(fp32.narrow(0, i, n).cpu()).sum().item<int64_t>();
  }
  return static_cast<double>(same) / static_cast<double>(std::max<int64_t>(x.size(0), 1));
}

std::string one_line(const augment::Pipeline& p) {
  if (p.empty()) return "none";
  std::string s = p.describe();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  for (size_t i = s.find('\n'); i != std::string::npos; i = s.find('\n', i)) s.replace(i, 1, " -> ");
  return s;
}

std::string summary_markdown(const nlohmann::json& s) {
  std::string sig;
  for (const auto& [k, v] : s["student"]["noise_acc"].items()) sig += " | acc, noise sigma " + k;
  std::string out = "| role | model | parameters | clean acc | test NLL" + sig + " | teacher agreement |\n";
  out += "| --- | --- | ---: | ---: | ---: |";
  for (size_t i = 0; i < s["student"]["noise_acc"].size(); ++i) out += " ---: |";
  out += " ---: |\n";
  for (const char* role : {"teacher", "student"}) {
    if (!s.contains(role)) continue;
    const auto& m = s[role];
    char buf[160];
    std::snprintf(buf, sizeof(buf), "| %s | %s | %lld | %.4f | %.4f |", role, m["model"].get<std::string>().c_str(),
                  static_cast<long long>(m["params"].get<int64_t>()), m["test_acc"].get<double>(),
                  m["test_nll"].get<double>());
    out += buf;
    for (const auto& [k, v] : m["noise_acc"].items()) {
      std::snprintf(buf, sizeof(buf), " %.4f |", v.get<double>());
      out += buf;
    }
    if (m.contains("teacher_agreement")) {
      std::snprintf(buf, sizeof(buf), " %.4f |\n", m["teacher_agreement"].get<double>());
      out += buf;
    } else {
      out += " - |\n";
    }
  }
  return out;
}

YAML::Node canonical_synergy_recipe(const std::vector<std::string>& overrides) {
  YAML::Node root = YAML::Load(R"(
name: fmnist-synergy
seed: 0
data: {dataset: fashion-mnist, val_size: 5000}
model: {name: resnet8}
teacher: {checkpoint: models/fmnist-resnet56.pt, precision: bf16, channels_last: true}
augment:
  - crop: {padding: 2}
  - rotate: {degrees: 10}
  - scale: {min: 0.9, max: 1.1}
  - hflip: {p: 0.5}
perturb:
  - gaussian_noise: {sigma: 0.1}
objective:
  a: 0.5
  original: {distance: ce}
  augmented: {distance: kl, temperature: 4}
  perturbed: {distance: kl, temperature: 4}
train: {epochs: 15, batch_size: 128, optimizer: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine}
eval: {noise_sigmas: [0.2]}
)");
  for (const auto& o : overrides) config::apply_override(root, o);
  return root;
}

}  // namespace kdaug::cli
