#include "kdaug/eval/calibration.h"

#include <torch/torch.h>

#include <cmath>

#include "detail.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/metrics.h"

namespace kdaug::eval {
namespace {

void check_logits_labels(const char* what, const at::Tensor& logits, const at::Tensor& labels) {
  KDAUG_CHECK(logits.defined() && logits.dim() == 2 && logits.size(1) >= 1, what,
              ": logits must be [N,K], got ", logits.defined() ? logits.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == logits.size(0), what,
              ": labels must be [", logits.size(0), "], got ", labels.defined() ? labels.sizes() : at::IntArrayRef{});
  if (labels.numel() > 0) {
    const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
    KDAUG_CHECK(lo >= 0 && hi < logits.size(1), what, ": labels must be in [0,", logits.size(1), "), got ",
                (lo < 0 ? lo : hi));
  }
}

double nll_at(const at::Tensor& logits, const at::Tensor& labels, double t) {
  return at::nll_loss(at::log_softmax(logits / t, 1), labels).item<double>();
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

CalibrationStats calibration_stats(const at::Tensor& logits, const at::Tensor& labels, int64_t bins,
                                   double temperature) {
  check_logits_labels("calibration", logits, labels);
  KDAUG_CHECK(bins >= 1, "calibration: bins must be >= 1, got ", bins);
  KDAUG_CHECK(std::isfinite(temperature) && temperature > 0, "calibration: temperature must be > 0, got ",
              temperature);
  const auto lg = logits.to(at::kCPU, at::kDouble) / temperature;
  const auto y = labels.to(at::kCPU, at::kLong);
  CalibrationStats s;
  s.temperature = temperature;
  s.n = y.size(0);
  if (s.n == 0) {
    s.ece = s.nll = s.accuracy = std::nan("");
    return s;
  }
  const auto probs = at::softmax(lg, 1);
  const auto [conf, pred] = probs.max(1);
  const auto correct = pred.eq(y).to(at::kDouble);
  s.accuracy = correct.mean().item<double>();
  s.nll = at::nll_loss(at::log_softmax(lg, 1), y).item<double>();
  // Bin b holds confidences in (b/B, (b+1)/B]; confidence 0 goes to bin 0.
  const auto idx = (at::ceil(conf * static_cast<double>(bins)) - 1).clamp(0, bins - 1).to(at::kLong);
  const auto count = at::zeros({bins}, at::kDouble).index_add_(0, idx, at::ones_like(conf));
  const auto conf_sum = at::zeros({bins}, at::kDouble).index_add_(0, idx, conf);
  const auto acc_sum = at::zeros({bins}, at::kDouble).index_add_(0, idx, correct);
  double ece = 0;
  for (int64_t b = 0; b < bins; ++b) {
    ReliabilityBin rb;
    rb.lower = static_cast<double>(b) / static_cast<double>(bins);
    rb.upper = static_cast<double>(b + 1) / static_cast<double>(bins);
    const double c = count[b].item<double>();
    rb.count = static_cast<int64_t>(c);
    rb.confidence = c > 0 ? conf_sum[b].item<double>() / c : std::nan("");
    rb.accuracy = c > 0 ? acc_sum[b].item<double>() / c : std::nan("");
    if (c > 0) ece += c / static_cast<double>(s.n) * std::abs(rb.accuracy - rb.confidence);
    s.bins.push_back(rb);
  }
  s.ece = ece;
  return s;
}

double fit_temperature(const at::Tensor& logits, const at::Tensor& labels) {
  check_logits_labels("fit_temperature", logits, labels);
  KDAUG_CHECK(labels.numel() > 0, "fit_temperature: no samples");
  const auto lg = logits.to(at::kCPU, at::kDouble);
  const auto y = labels.to(at::kCPU, at::kLong);
  auto f = [&](double log_t) { return nll_at(lg, y, std::exp(log_t)); };
  double a = std::log(0.05), b = std::log(20.0);
  const double g = (std::sqrt(5.0) - 1) / 2;
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = f(c), fd = f(d);
  for (int it = 0; it < 80 && b - a > 1e-7; ++it) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const double t = std::exp((a + b) / 2);
  return nll_at(lg, y, t) < nll_at(lg, y, 1.0) ? t : 1.0;
}

CalibrationReport evaluate_calibration(models::ClassifierImpl& model, const data::Dataset& test,
                                       const data::Dataset* val, const CalibrationOptions& opts) {
  detail::check_batch_size(opts.batch_size, "evaluate_calibration");
  const int64_t n = detail::checked_count(test, opts.limit, "evaluate_calibration");
  KDAUG_CHECK(opts.bins >= 1, "evaluate_calibration: bins must be >= 1, got ", opts.bins);
  CalibrationReport r;
  double t = 1.0;
  if (val != nullptr) {
    const int64_t nv = detail::checked_count(*val, 0, "evaluate_calibration (validation set)");
    const auto vlogits = predict_logits(model, val->images, opts.batch_size, opts.progress);
    t = fit_temperature(vlogits, val->labels);
    r.fitted = true;
    r.fit_n = nv;
  }
  const auto logits = predict_logits(model, test.images.narrow(0, 0, n), opts.batch_size, opts.progress);
  const auto labels = test.labels.narrow(0, 0, n);
  r.before = calibration_stats(logits, labels, opts.bins, 1.0);
  r.after = r.fitted ? calibration_stats(logits, labels, opts.bins, t) : r.before;
  return r;
}

nlohmann::json to_json(const CalibrationStats& s) {
  nlohmann::json j;
  j["temperature"] = s.temperature;
  j["ece"] = num(s.ece);
  j["nll"] = num(s.nll);
  j["accuracy"] = num(s.accuracy);
  j["n"] = s.n;
  auto bins = nlohmann::json::array();
  for (const auto& b : s.bins) {
    bins.push_back({{"lower", b.lower},
                    {"upper", b.upper},
                    {"count", b.count},
                    {"confidence", num(b.confidence)},
                    {"accuracy", num(b.accuracy)}});
  }
  j["bins"] = bins;
  return j;
}

nlohmann::json to_json(const CalibrationReport& r) {
  return {{"fitted", r.fitted},
          {"fit_n", r.fit_n},
          {"temperature", r.after.temperature},
          {"before", to_json(r.before)},
          {"after", to_json(r.after)}};
}

}  // namespace kdaug::eval
