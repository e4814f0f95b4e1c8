#include "kdaug/eval/noise.h"

#include <torch/torch.h>

#include <cmath>

#include "detail.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace kdaug::eval {

NoiseSweepReport noise_sweep(models::ClassifierImpl& model, const data::Dataset& test, const NoiseSweepOptions& o) {
  detail::check_batch_size(o.batch_size, "noise_sweep");
  const int64_t n = detail::checked_count(test, o.limit, "noise_sweep");
  KDAUG_CHECK(!o.sigmas.empty(), "noise_sweep: no sigma given");
  for (double s : o.sigmas) KDAUG_CHECK(std::isfinite(s) && s >= 0, "noise_sweep: sigma must be >= 0, got ", s);
  const auto device = detail::model_device(model);
  detail::EvalModeGuard mode(model);
  c10::InferenceMode guard;
  const size_t m = o.sigmas.size();
  std::vector<int64_t> correct(m, 0);
  std::vector<double> nll_sum(m, 0);
  auto bar = detail::make_progress(o.progress, "noise sweep", n * static_cast<int64_t>(m), o.interactive);
  for (int64_t i = 0, batch = 0; i < n; i += o.batch_size, ++batch) {
    const int64_t bs = std::min(o.batch_size, n - i);
    const auto x = detail::to_float01(test.images.narrow(0, i, bs), device);
    const auto y = test.labels.narrow(0, i, bs).to(device);
    auto gen = make_generator(derive_seed(o.seed, "noise", static_cast<uint64_t>(batch)));
    const auto z = at::randn(x.sizes(), gen, at::kFloat).to(device);
    for (size_t k = 0; k < m; ++k) {
      const auto xn = o.sigmas[k] > 0 ? (x + z * o.sigmas[k]).clamp_(0, 1) : x;
      const auto logits = detail::forward_in_chunks(model, xn);
      correct[k] += detail::count_correct(logits, y);
      nll_sum[k] += at::nll_loss(at::log_softmax(logits.to(at::kDouble), 1), y, {}, at::Reduction::Sum).item<double>();
      if (bar) bar->update(i * static_cast<int64_t>(m) + bs * static_cast<int64_t>(k + 1));
    }
  }
  if (bar) bar->finish();
  NoiseSweepReport r;
  r.n = n;
  r.seed = o.seed;
  for (size_t k = 0; k < m; ++k) {
    r.points.push_back({o.sigmas[k], static_cast<double>(correct[k]) / static_cast<double>(n),
                        nll_sum[k] / static_cast<double>(n)});
  }
  return r;
}

nlohmann::json to_json(const NoiseSweepReport& r) {
  auto pts = nlohmann::json::array();
  for (const auto& p : r.points) pts.push_back({{"sigma", p.sigma}, {"accuracy", p.accuracy}, {"nll", p.nll}});
  return {{"n", r.n}, {"seed", r.seed}, {"points", pts}};
}

}  // namespace kdaug::eval
