#include "kdaug/eval/adversarial.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "detail.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace kdaug::eval {
namespace {

void check_attack_inputs(const char* what, const at::Tensor& x, const at::Tensor& y, double eps) {
  KDAUG_CHECK(std::isfinite(eps) && eps >= 0, what, ": eps must be >= 0, got ", eps);
  KDAUG_CHECK(x.defined() && x.dim() == 4 && at::isFloatingType(x.scalar_type()), what,
              ": x must be float [B,C,H,W], got ", x.defined() ? x.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(y.defined() && y.dim() == 1 && y.size(0) == x.size(0), what, ": y must be [", x.size(0), "], got ",
              y.defined() ? y.sizes() : at::IntArrayRef{});
}

// Per-sample cross-entropy and its gradient with respect to the input only (the parameters'
// .grad is left alone: autograd::grad rather than backward()). The loss is per sample and the
// model is in eval mode, so each image's gradient depends on that image alone: on the CPU the
// batch is taken detail::kCpuForwardBatch images at a time, for the speed reason given there.
std::pair<at::Tensor, at::Tensor> loss_and_grad(models::ClassifierImpl& model, const at::Tensor& x,
                                                const at::Tensor& y) {
  auto one = [&](const at::Tensor& xc, const at::Tensor& yc) {
    auto xv = xc.detach().requires_grad_(true);
    auto loss = at::cross_entropy_loss(model.forward(xv), yc, {}, at::Reduction::None);
    auto grad = torch::autograd::grad({loss.sum()}, {xv})[0];
    return std::make_pair(loss.detach(), grad.detach());
  };
  const int64_t n = x.size(0), chunk = detail::kCpuForwardBatch;
  if (!x.device().is_cpu() || n <= chunk) return one(x, y);
  std::vector<at::Tensor> losses, grads;
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t b = std::min(chunk, n - i);
    auto [l, g] = one(x.narrow(0, i, b), y.narrow(0, i, b));
    losses.push_back(l);
    grads.push_back(g);
  }
  return {at::cat(losses, 0), at::cat(grads, 0)};
}

}  // namespace

at::Tensor fgsm(models::ClassifierImpl& model, const at::Tensor& x, const at::Tensor& y, double eps) {
  check_attack_inputs("fgsm", x, y, eps);
  detail::EvalModeGuard mode(model);
  torch::AutoGradMode grad_on(true);
  const auto [loss, grad] = loss_and_grad(model, x, y);
  return (x.detach() + eps * grad.sign()).clamp_(0, 1);
}

at::Tensor pgd(models::ClassifierImpl& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& o) {
  check_attack_inputs("pgd", x, y, o.eps);
  KDAUG_CHECK(o.steps >= 1, "pgd: steps must be >= 1, got ", o.steps);
  KDAUG_CHECK(o.restarts >= 1, "pgd: restarts must be >= 1, got ", o.restarts);
  KDAUG_CHECK(std::isfinite(o.step_size) && o.step_size >= 0, "pgd: step_size must be >= 0, got ", o.step_size);
  const double step = o.step_size > 0 ? o.step_size : 2.5 * o.eps / o.steps;
  detail::EvalModeGuard mode(model);
  torch::AutoGradMode grad_on(true);
  const auto x0 = x.detach();
  const auto lo = (x0 - o.eps).clamp(0, 1), hi = (x0 + o.eps).clamp(0, 1);
  auto gen = make_generator(o.seed);
  at::Tensor best, best_loss;
  for (int r = 0; r < o.restarts; ++r) {
    auto xa = x0.clone();
    if (o.random_start && o.eps > 0) {
      auto u = at::rand(x0.sizes(), gen, at::kFloat).to(x0.device(), x0.scalar_type());
      xa = at::min(at::max(x0 + (2 * u - 1) * o.eps, lo), hi);
    }
    for (int k = 0; k < o.steps; ++k) {
      const auto [loss, grad] = loss_and_grad(model, xa, y);
      xa = at::min(at::max(xa + step * grad.sign(), lo), hi);
    }
    at::Tensor loss;
    {
      torch::NoGradGuard no_grad;
      loss = at::cross_entropy_loss(detail::forward_in_chunks(model, xa), y, {}, at::Reduction::None);
    }
    if (r == 0) {
      best = xa;
      best_loss = loss;
    } else {
      const auto better = loss > best_loss;
      best = at::where(better.view({-1, 1, 1, 1}), xa, best);
      best_loss = at::where(better, loss, best_loss);
    }
  }
  return best.detach();
}

AdversarialReport evaluate_adversarial(models::ClassifierImpl& model, const data::Dataset& test,
                                       const AdversarialOptions& o) {
  detail::check_batch_size(o.batch_size, "evaluate_adversarial");
  const int64_t n = detail::checked_count(test, o.limit, "evaluate_adversarial");
  for (double e : o.eps) KDAUG_CHECK(std::isfinite(e) && e >= 0, "evaluate_adversarial: eps must be >= 0, got ", e);
  KDAUG_CHECK(o.pgd_steps >= 1, "evaluate_adversarial: pgd_steps must be >= 1, got ", o.pgd_steps);
  KDAUG_CHECK(o.restarts >= 1, "evaluate_adversarial: restarts must be >= 1, got ", o.restarts);
  const auto device = detail::model_device(model);
  detail::EvalModeGuard mode(model);

  AdversarialReport rep;
  rep.n = n;
  std::vector<AdversarialResult> results;
  for (double e : o.eps) {
    if (o.fgsm) results.push_back({"fgsm", e, 1, 1, 0, n});
    if (o.pgd) results.push_back({"pgd", e, o.pgd_steps, o.restarts, 0, n});
  }
  std::vector<int64_t> correct(results.size(), 0);
  int64_t clean = 0;
  // Forward-pass equivalents per image, for the progress rate.
  int64_t work_per_image = 1;
  for (const auto& r : results) work_per_image += r.steps * r.restarts;
  auto bar = detail::make_progress(o.progress, "adversarial", n * work_per_image, o.interactive);
  int64_t done = 0;
  for (int64_t i = 0, batch = 0; i < n; i += o.batch_size, ++batch) {
    const int64_t bs = std::min(o.batch_size, n - i);
    const auto x = detail::to_float01(test.images.narrow(0, i, bs), device);
    const auto y = test.labels.narrow(0, i, bs).to(device);
    auto accuracy_on = [&](const at::Tensor& xa) {
      torch::NoGradGuard no_grad;
      return detail::count_correct(detail::forward_in_chunks(model, xa), y);
    };
    clean += accuracy_on(x);
    done += bs;
    for (size_t k = 0; k < results.size(); ++k) {
      const auto& r = results[k];
      at::Tensor xa;
      if (r.attack == "fgsm") {
        xa = fgsm(model, x, y, r.eps);
      } else {
        PgdOptions po;
        po.eps = r.eps;
        po.steps = o.pgd_steps;
        po.step_size = o.pgd_step_size;
        po.random_start = o.random_start;
        po.restarts = o.restarts;
        po.seed = derive_seed(o.seed, "pgd", static_cast<uint64_t>(batch) * 1000 + k);
        xa = pgd(model, x, y, po);
      }
      correct[k] += accuracy_on(xa);
      done += bs * r.steps * r.restarts;
      if (bar) bar->update(done, r.attack);
    }
  }
  if (bar) bar->finish();
  rep.clean_accuracy = static_cast<double>(clean) / static_cast<double>(n);
  for (size_t k = 0; k < results.size(); ++k) {
    results[k].accuracy = static_cast<double>(correct[k]) / static_cast<double>(n);
  }
  rep.results = std::move(results);
  return rep;
}

nlohmann::json to_json(const AdversarialReport& r) {
  nlohmann::json j;
  j["clean_accuracy"] = r.clean_accuracy;
  j["n"] = r.n;
  auto arr = nlohmann::json::array();
  for (const auto& a : r.results) {
    arr.push_back({{"attack", a.attack},
                   {"eps", a.eps},
                   {"eps_255", a.eps * 255.0},
                   {"steps", a.steps},
                   {"restarts", a.restarts},
                   {"accuracy", a.accuracy},
                   {"n", a.n}});
  }
  j["results"] = arr;
  return j;
}

}  // namespace kdaug::eval
