#include "kdaug/eval/metrics.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "detail.h"
#include "kdaug/core/error.h"

namespace kdaug::eval {

at::Tensor predict_logits(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size,
                          std::ostream* progress) {
  detail::check_batch_size(batch_size, "predict_logits");
  KDAUG_CHECK(images.defined() && images.dim() == 4, "predict_logits: images must be [N,C,H,W], got ",
              images.defined() ? images.sizes() : at::IntArrayRef{});
  const int64_t n = images.size(0);
  const auto device = detail::model_device(model);
  detail::EvalModeGuard mode(model);
  c10::InferenceMode guard;
  auto bar = detail::make_progress(progress, "predict", n);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < n; i += batch_size) {
    const int64_t b = std::min(batch_size, n - i);
    auto x = detail::to_float01(images.narrow(0, i, b), device);
    out.push_back(detail::forward_in_chunks(model, x).to(at::kCPU, at::kFloat));
    if (bar) bar->update(i + b);
  }
  if (bar) bar->finish();
  if (out.empty()) return at::empty({0, model.spec().num_classes}, at::kFloat);
  return at::cat(out, 0);
}

ClassificationReport report_from_logits(const at::Tensor& logits, const at::Tensor& labels, int64_t num_classes) {
  KDAUG_CHECK(logits.defined() && logits.dim() == 2, "report_from_logits: logits must be [N,K], got ",
              logits.defined() ? logits.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == logits.size(0),
              "report_from_logits: labels must be [", logits.size(0), "], got ",
              labels.defined() ? labels.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(num_classes > 0 && logits.size(1) == num_classes, "report_from_logits: logits have ",
              logits.size(1), " classes but num_classes is ", num_classes);
  const auto lab = labels.to(at::kCPU, at::kLong);
  ClassificationReport r;
  r.n = lab.size(0);
  if (r.n > 0) {
    const int64_t lo = lab.min().item<int64_t>(), hi = lab.max().item<int64_t>();
    KDAUG_CHECK(lo >= 0 && hi < num_classes, "report_from_logits: labels must be in [0,", num_classes,
                "), got ", (lo < 0 ? lo : hi));
  }
  const auto lg = logits.to(at::kCPU, at::kDouble);
  const auto pred = lg.argmax(1);
  r.accuracy = r.n > 0 ? pred.eq(lab).to(at::kDouble).mean().item<double>() : std::nan("");
  r.nll = r.n > 0 ? at::nll_loss(at::log_softmax(lg, 1), lab).item<double>() : std::nan("");
  r.confusion = at::bincount(lab * num_classes + pred, {}, num_classes * num_classes)
                    .to(at::kLong)
                    .view({num_classes, num_classes});
  const auto diag = r.confusion.diagonal().to(at::kDouble);
  const auto rows = r.confusion.sum(1).to(at::kDouble);
  for (int64_t k = 0; k < num_classes; ++k) {
    const double cnt = rows[k].item<double>();
    r.per_class_accuracy.push_back(cnt > 0 ? diag[k].item<double>() / cnt : std::nan(""));
  }
  return r;
}

ClassificationReport evaluate(models::ClassifierImpl& model, const data::Dataset& dataset, const EvalOptions& opts) {
  detail::check_batch_size(opts.batch_size, "evaluate");
  const int64_t n = detail::checked_count(dataset, opts.limit, "evaluate");
  const auto images = dataset.images.narrow(0, 0, n);
  const auto labels = dataset.labels.narrow(0, 0, n);
  auto logits = predict_logits(model, images, opts.batch_size, opts.progress);
  const int64_t k = dataset.num_classes > 0 ? dataset.num_classes : logits.size(1);
  KDAUG_CHECK(logits.size(1) == k, "evaluate: model has ", logits.size(1), " outputs but dataset '",
              dataset.name, "' has ", k, " classes");
  return report_from_logits(logits, labels, k);
}

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json to_json(const ClassificationReport& r) {
  nlohmann::json j;
  j["accuracy"] = num(r.accuracy);
  j["nll"] = num(r.nll);
  j["n"] = r.n;
  auto pcs = nlohmann::json::array();
  for (double v : r.per_class_accuracy) pcs.push_back(num(v));
  j["per_class_accuracy"] = pcs;
  auto conf = nlohmann::json::array();
  if (r.confusion.defined()) {
    const auto c = r.confusion.to(at::kCPU, at::kLong).contiguous();
    const int64_t k = c.size(0);
    const int64_t* p = c.data_ptr<int64_t>();
    for (int64_t i = 0; i < k; ++i) conf.push_back(std::vector<int64_t>(p + i * k, p + (i + 1) * k));
  }
  j["confusion"] = conf;
  return j;
}

std::string to_markdown(const ClassificationReport& r, const std::vector<std::string>& class_names) {
  std::ostringstream s;
  s << "| metric | value |\n| --- | --- |\n";
  s << "| accuracy | " << detail::fmt(100.0 * r.accuracy, 2) << "% |\n";
  s << "| NLL | " << detail::fmt(r.nll) << " |\n";
  s << "| samples | " << r.n << " |\n\n";
  const int64_t k = static_cast<int64_t>(r.per_class_accuracy.size());
  if (k == 0) return s.str();
  auto name = [&](int64_t i) {
    return i < static_cast<int64_t>(class_names.size()) ? class_names[i] : std::to_string(i);
  };
  s << "| class | accuracy |";
  for (int64_t p = 0; p < k; ++p) s << " " << name(p) << " |";
  s << "\n| --- | --- |";
  for (int64_t p = 0; p < k; ++p) s << " --- |";
  s << "\n";
  const auto c = r.confusion.defined() ? r.confusion.to(at::kCPU, at::kLong).contiguous() : at::Tensor();
  for (int64_t t = 0; t < k; ++t) {
    s << "| " << name(t) << " | " << detail::fmt(100.0 * r.per_class_accuracy[t], 2) << "% |";
    for (int64_t p = 0; p < k; ++p) s << " " << (c.defined() ? c[t][p].item<int64_t>() : 0) << " |";
    s << "\n";
  }
  s << "\nRows: true class; columns: predicted class.\n";
  return s.str();
}

}  // namespace kdaug::eval
