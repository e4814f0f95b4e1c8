// The corruption suite. Every corruption is a function of (images, severity index, generator);
// its severity table sits next to it. Geometric parameters are fractions of the image side so
// the suite means the same thing at 28x28 and 32x32; the tables are mirrored in docs/eval.md.
#include "kdaug/eval/corruptions.h"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "detail.h"
#include "jpeg.h"
#include "kdaug/augment/png.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"

namespace kdaug::eval {
namespace {

namespace F = torch::nn::functional;
constexpr double kPi = 3.14159265358979323846;

// Severity tables (index 0 = severity 1).
constexpr std::array<double, 5> kGaussianNoiseSigma{0.08, 0.12, 0.18, 0.26, 0.38};
constexpr std::array<double, 5> kShotNoiseRate{60, 25, 12, 5, 3};  // photons per unit intensity
constexpr std::array<double, 5> kImpulseAmount{0.03, 0.06, 0.09, 0.17, 0.27};
constexpr std::array<double, 5> kSpeckleSigma{0.15, 0.2, 0.35, 0.45, 0.6};
constexpr std::array<double, 5> kGaussianBlurSigma{0.5, 0.75, 1.0, 1.5, 2.0};  // x side/28 pixels
constexpr std::array<double, 5> kMotionBlurLength{3, 5, 7, 9, 11};            // x side/28 pixels
struct GlassParams {
  double sigma;  // x side/28 pixels
  int delta;     // max local displacement, pixels
  int iterations;
};
constexpr std::array<GlassParams, 5> kGlass{{{0.4, 1, 1}, {0.5, 1, 2}, {0.6, 2, 1}, {0.7, 2, 2}, {0.9, 2, 3}}};
constexpr int kGlassMaxIterations = 3;
constexpr std::array<double, 5> kRotateDegrees{10, 20, 30, 40, 50};
constexpr std::array<double, 5> kShearFactor{0.15, 0.3, 0.45, 0.6, 0.75};
constexpr std::array<double, 5> kScaleFactor{0.9, 0.8, 0.7, 0.6, 0.5};
constexpr std::array<double, 5> kTranslateFraction{0.05, 0.1, 0.15, 0.2, 0.25};
constexpr std::array<double, 5> kElasticRmsFraction{0.02, 0.04, 0.06, 0.08, 0.1};
constexpr double kElasticSmoothFraction = 0.12;  // smoothing sigma of the displacement field / side
constexpr std::array<double, 5> kBrightnessShift{0.1, 0.2, 0.3, 0.4, 0.5};
constexpr std::array<double, 5> kContrastFactor{0.6, 0.45, 0.3, 0.2, 0.1};
constexpr std::array<double, 5> kInverseBlend{0.6, 0.7, 0.8, 0.9, 1.0};
constexpr std::array<std::pair<double, double>, 5> kFog{{{0.2, 3}, {0.5, 3}, {0.75, 2.5}, {1.0, 2}, {1.5, 1.75}}};
constexpr std::array<double, 5> kPixelateFactor{0.7, 0.5, 0.4, 0.3, 0.22};
constexpr std::array<int, 5> kJpegQuality{25, 18, 15, 10, 7};
constexpr std::array<double, 5> kStripeFraction{0.06, 0.12, 0.18, 0.24, 0.3};
struct LineParams {
  int lines;
  double width;  // x side/28 pixels
};
constexpr std::array<LineParams, 5> kZigzag{{{1, 1.0}, {1, 1.5}, {2, 1.5}, {2, 2.0}, {3, 2.0}}};
constexpr int kZigzagMaxLines = 3;
constexpr std::array<int, 5> kDottedLines{1, 2, 3, 4, 5};
constexpr double kDottedWidth = 1.5;   // x side/28 pixels
constexpr double kDottedPeriod = 4.0;  // dash + gap, x side/28 pixels

// One batch under one corruption. The random draws depend on the seed and the corruption but
// not on the severity (the severities are nested), so when several severities of the same batch
// are made, the draws of the first are recorded and replayed to the next ones, and memo() keeps
// what is computed from the draws alone; the images are bit for bit those of separate calls.
struct Batch {
  Batch(at::Tensor images, uint64_t seed_)
      : x(std::move(images)), seed(seed_), n(x.size(0)), c(x.size(1)), h(x.size(2)), w(x.size(3)),
        gen(make_generator(seed)) {}
  at::Tensor x;  // float [N,C,H,W] in [0,1]
  uint64_t seed;
  int64_t n, c, h, w;
  at::Generator gen;
  std::vector<at::Tensor> draws;  // every rand/randn so far, in order
  size_t next = 0;                // index of the next draw (== draws.size() unless replaying)
  struct Memo {
    at::Tensor value;
    size_t draws_before, draws_after;
  };
  std::map<std::string, Memo> memos;

  double side() const { return static_cast<double>(std::min(h, w)); }
  double px(double at28) const { return at28 * side() / 28.0; }  // a length given for 28x28 images
  // Uniform [0,1) / standard normal draws on the CPU generator, moved to the images' device.
  // The returned tensors are shared between severities: never modify them in place.
  at::Tensor rand(at::IntArrayRef size) {
    return draw([&] { return at::rand(size, gen, at::kFloat).to(x.device()); });
  }
  at::Tensor randn(at::IntArrayRef size) {
    return draw([&] { return at::randn(size, gen, at::kFloat).to(x.device()); });
  }
  at::Tensor sign(int64_t count) { return at::where(rand({count}) < 0.5, -1.0f, 1.0f); }
  // f() computed once per batch: f must depend only on the images and on draws it makes itself.
  at::Tensor memo(const std::string& key, const std::function<at::Tensor()>& f) {
    auto it = memos.find(key);
    if (it != memos.end()) {
      TORCH_INTERNAL_ASSERT(it->second.draws_before == next, "corruption memo '", key, "' out of order");
      next = it->second.draws_after;
      return it->second.value;
    }
    const size_t before = next;
    auto v = f();
    memos.emplace(key, Memo{v, before, next});
    return v;
  }
  // Starts the next severity: a fresh generator (for draws made on it directly, such as
  // at::poisson's) and the recorded draws from the first.
  void restart() {
    gen = make_generator(seed);
    next = 0;
  }

 private:
  template <class F>
  at::Tensor draw(F&& f) {
    if (next < draws.size()) return draws[next++];
    draws.push_back(f());
    next = draws.size();
    return draws.back();
  }
};

// Depthwise separable Gaussian blur with edge replication; sigma in pixels.
at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t r = std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(std::ceil(3 * sigma)),
                                                           std::min(h, w) - 1));
  auto t = at::arange(-r, r + 1, x.options()).to(at::kFloat);
  auto k = at::exp(-(t * t) / (2 * sigma * sigma));
  k = k / k.sum();
  auto y = x.reshape({n * c, 1, h, w});
  y = at::replication_pad2d(y, {r, r, 0, 0});
  y = at::conv2d(y, k.view({1, 1, 1, 2 * r + 1}));
  y = at::replication_pad2d(y, {0, 0, r, r});
  y = at::conv2d(y, k.view({1, 1, 2 * r + 1, 1}));
  return y.reshape({n, c, h, w});
}

// Samples x at pixel positions A * p + t (p relative to the image centre), bilinear, zero
// outside. a00..a11, tx, ty: float [N] on x's device; t in pixels.
at::Tensor warp_affine(const at::Tensor& x, const at::Tensor& a00, const at::Tensor& a01, const at::Tensor& a10,
                       const at::Tensor& a11, const at::Tensor& tx, const at::Tensor& ty) {
  const double h = static_cast<double>(x.size(2)), w = static_cast<double>(x.size(3));
  // affine_grid works in coordinates normalised by the half-sides; conjugate by them.
  auto row0 = at::stack({a00, a01 * (h / w), tx / (w / 2)}, 1);
  auto row1 = at::stack({a10 * (w / h), a11, ty / (h / 2)}, 1);
  auto theta = at::stack({row0, row1}, 1).to(x.scalar_type());
  auto grid = F::affine_grid(theta, x.sizes(), /*align_corners=*/false);
  return F::grid_sample(x, grid,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
}

// Pixel-centre coordinates (x right, y down) as float [1,1,H,W] each.
std::pair<at::Tensor, at::Tensor> pixel_coords(const Batch& b) {
  auto ys = at::arange(b.h, b.x.options()).to(at::kFloat).add_(0.5).view({1, 1, b.h, 1}).expand({1, 1, b.h, b.w});
  auto xs = at::arange(b.w, b.x.options()).to(at::kFloat).add_(0.5).view({1, 1, 1, b.w}).expand({1, 1, b.h, b.w});
  return {xs, ys};
}

// ---- noise ----
at::Tensor gaussian_noise(Batch& b, int s) {
  return (b.x + b.randn(b.x.sizes()) * kGaussianNoiseSigma[s]).clamp_(0, 1);
}

at::Tensor shot_noise(Batch& b, int s) {
  // at::poisson takes only a generator of the tensor's device: draw on the CPU.
  const double rate = kShotNoiseRate[s];
  auto counts = at::poisson(b.x.to(at::kCPU) * rate, b.gen);
  return (counts / rate).to(b.x.device()).clamp_(0, 1);
}

at::Tensor impulse_noise(Batch& b, int s) {
  // One uniform per value: below amount/2 -> pepper, above 1 - amount/2 -> salt (nested sets).
  auto u = b.rand(b.x.sizes());
  const double a = kImpulseAmount[s];
  auto out = at::where(u < a / 2, at::zeros_like(b.x), b.x);
  return at::where(u >= 1 - a / 2, at::ones_like(b.x), out);
}

at::Tensor speckle_noise(Batch& b, int s) {
  return (b.x + b.x * b.randn(b.x.sizes()) * kSpeckleSigma[s]).clamp_(0, 1);
}

// ---- blur ----
at::Tensor gaussian_blur_c(Batch& b, int s) { return gaussian_blur(b.x, b.px(kGaussianBlurSigma[s])).clamp_(0, 1); }

at::Tensor motion_blur(Batch& b, int s) {
  // Mean of copies shifted along a random direction per image, over a centred segment.
  const double len = b.px(kMotionBlurLength[s]);
  const int64_t taps = 2 * static_cast<int64_t>(std::ceil(len / 2)) + 1;
  auto angle = b.rand({b.n}) * kPi;
  auto dx = at::cos(angle), dy = at::sin(angle);
  auto one = at::ones({b.n}, b.x.options()), zero = at::zeros({b.n}, b.x.options());
  auto acc = at::zeros_like(b.x);
  for (int64_t j = 0; j < taps; ++j) {
    const double off = (static_cast<double>(j) / static_cast<double>(taps - 1) - 0.5) * len;
    acc += warp_affine(b.x, one, zero, zero, one, dx * off, dy * off);
  }
  return (acc / static_cast<double>(taps)).clamp_(0, 1);
}

at::Tensor glass_blur(Batch& b, int s) {
  // ImageNet-C's glass blur swaps neighbouring pixels one at a time; here every pixel takes the
  // value of a random neighbour within `delta`, all at once, between two Gaussian blurs.
  const auto& p = kGlass[s];
  auto y = gaussian_blur(b.x, b.px(p.sigma));
  auto [xs, ys] = pixel_coords(b);
  auto xi = xs.floor().to(at::kLong), yi = ys.floor().to(at::kLong);
  for (int it = 0; it < kGlassMaxIterations; ++it) {
    auto u = b.rand({2, b.n, 1, b.h, b.w});  // drawn for every iteration: nested severities
    if (it >= p.iterations) continue;
    auto span = static_cast<double>(2 * p.delta + 1);
    auto ox = (u[0] * span).floor().to(at::kLong) - p.delta;
    auto oy = (u[1] * span).floor().to(at::kLong) - p.delta;
    auto idx = (yi + oy).clamp(0, b.h - 1) * b.w + (xi + ox).clamp(0, b.w - 1);  // [N,1,H,W]
    idx = idx.view({b.n, 1, b.h * b.w}).expand({b.n, b.c, b.h * b.w});
    y = y.reshape({b.n, b.c, b.h * b.w}).gather(2, idx).view({b.n, b.c, b.h, b.w});
  }
  return gaussian_blur(y, b.px(p.sigma)).clamp_(0, 1);
}

// ---- geometric ----
at::Tensor rotate(Batch& b, int s) {
  auto a = b.sign(b.n) * (kRotateDegrees[s] * kPi / 180.0);
  auto c = at::cos(a), sn = at::sin(a), z = at::zeros_like(a);
  return warp_affine(b.x, c, -sn, sn, c, z, z).clamp_(0, 1);
}

at::Tensor shear(Batch& b, int s) {
  auto k = b.sign(b.n) * kShearFactor[s];
  auto horizontal = b.rand({b.n}) < 0.5;
  auto one = at::ones_like(k), z = at::zeros_like(k);
  return warp_affine(b.x, one, at::where(horizontal, k, z), at::where(horizontal, z, k), one, z, z).clamp_(0, 1);
}

at::Tensor scale(Batch& b, int s) {
  // Sampling at p / f shrinks the content by f around the centre.
  auto inv = at::full({b.n}, 1.0 / kScaleFactor[s], b.x.options());
  auto z = at::zeros_like(inv);
  return warp_affine(b.x, inv, z, z, inv, z, z).clamp_(0, 1);
}

at::Tensor translate(Batch& b, int s) {
  auto dir = b.rand({b.n}) * (2 * kPi);
  const double f = kTranslateFraction[s];
  auto one = at::ones_like(dir), z = at::zeros_like(dir);
  return warp_affine(b.x, one, z, z, one, at::cos(dir) * (f * b.w), at::sin(dir) * (f * b.h)).clamp_(0, 1);
}

at::Tensor elastic(Batch& b, int s) {
  // Simard et al. 2003: a smoothed random displacement field, here scaled to a given RMS length.
  // The smoothed field at unit RMS and the identity grid do not depend on the severity.
  auto unit = b.memo("unit_field", [&] {
    auto field = gaussian_blur(b.randn({b.n, 2, b.h, b.w}), kElasticSmoothFraction * b.side());
    auto rms = field.pow(2).mean({1, 2, 3}, /*keepdim=*/true).sqrt().clamp_min(1e-12);
    return field / rms;
  });
  auto field = unit * (kElasticRmsFraction[s] * b.side());
  auto grid = b.memo("identity_grid", [&] {
    auto eye = at::tensor({1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}, b.x.options()).view({1, 2, 3}).expand({b.n, 2, 3});
    return F::affine_grid(eye, b.x.sizes(), /*align_corners=*/false);
  });
  auto norm = at::stack({field.select(1, 0) / (b.w / 2.0), field.select(1, 1) / (b.h / 2.0)}, 3);
  return F::grid_sample(b.x, grid + norm,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false))
      .clamp_(0, 1);
}

// ---- photometric ----
at::Tensor brightness(Batch& b, int s) { return (b.x + kBrightnessShift[s]).clamp_(0, 1); }

at::Tensor contrast(Batch& b, int s) {
  auto m = b.x.mean({1, 2, 3}, /*keepdim=*/true);
  return ((b.x - m) * kContrastFactor[s] + m).clamp_(0, 1);
}

at::Tensor inverse(Batch& b, int s) {
  const double a = kInverseBlend[s];
  return (b.x * (1 - a) + (1 - b.x) * a).clamp_(0, 1);
}

at::Tensor fog(Batch& b, int s) {
  // Value-noise fractal (a batched stand-in for ImageNet-C's diamond-square plasma): octave k
  // is a (2^(k+1)+1)^2 random grid upsampled bilinearly, weighted decay^-k.
  const auto [strength, decay] = kFog[s];
  auto f = at::zeros({b.n, 1, b.h, b.w}, b.x.options());
  const int64_t longest = std::max(b.h, b.w);
  double weight = 1;
  for (int64_t g = 3;; g = 2 * g - 1) {  // 3, 5, 9, 17, ... up to the first grid >= the image
    auto grid = b.rand({b.n, 1, g, g});
    f += F::interpolate(grid, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{b.h, b.w})
                                  .mode(torch::kBilinear)
                                  .align_corners(true)) *
         weight;
    weight /= decay;
    if (g >= longest) break;
  }
  auto lo = f.amin({1, 2, 3}, true), hi = f.amax({1, 2, 3}, true);
  f = (f - lo) / (hi - lo).clamp_min(1e-12);
  auto mx = b.x.amax({1, 2, 3}, true);
  return ((b.x + f * strength) * mx / (mx + strength)).clamp_(0, 1);
}

// ---- artefacts ----
at::Tensor pixelate(Batch& b, int s) {
  const double f = kPixelateFactor[s];
  const int64_t h = std::max<int64_t>(1, std::llround(b.h * f)), w = std::max<int64_t>(1, std::llround(b.w * f));
  auto small = at::adaptive_avg_pool2d(b.x, {h, w});
  return F::interpolate(small, F::InterpolateFuncOptions().size(std::vector<int64_t>{b.h, b.w}).mode(torch::kBilinear).align_corners(false))
      .clamp_(0, 1);
}

at::Tensor jpeg(Batch& b, int s) { return detail::jpeg_round_trip(b.x, kJpegQuality[s]); }

at::Tensor stripe(Batch& b, int s) {
  // A band at a random position and orientation whose intensities are inverted.
  auto vertical = (b.rand({b.n}) < 0.5).view({b.n, 1, 1, 1});
  auto centre = b.rand({b.n}).view({b.n, 1, 1, 1});
  auto [xs, ys] = pixel_coords(b);
  auto coord = at::where(vertical, xs / b.w, ys / b.h);  // [N,1,H,W] in (0,1)
  const double width = std::max(kStripeFraction[s], 1.0 / static_cast<double>(std::min(b.h, b.w)));
  auto mask = (coord - centre).abs() < width / 2;
  return at::where(mask, 1 - b.x, b.x);
}

at::Tensor zigzag(Batch& b, int s) {
  // Up to three white triangle-wave lines; pixel on a line when its distance (vertical distance
  // times the cosine of the slope) is below half the width.
  const auto& p = kZigzag[s];
  auto [xs, ys] = pixel_coords(b);
  const double side = b.side();
  auto mask = at::zeros({b.n, 1, b.h, b.w}, b.x.options().dtype(at::kBool));
  for (int i = 0; i < kZigzagMaxLines; ++i) {
    auto u = b.rand({5, b.n, 1, 1, 1});  // drawn for every line: nested severities
    if (i >= p.lines) continue;
    auto horizontal = u[0] < 0.5;
    auto along = at::where(horizontal, xs, ys);
    auto across = at::where(horizontal, ys, xs);
    auto base = (0.2 + 0.6 * u[1]) * side;
    auto amp = (0.08 + 0.08 * u[2]) * side;
    auto period = side / (2 + 2 * u[3]);
    auto phase = u[4];
    auto t = along / period + phase;
    auto tri = 2 * (2 * (t - t.floor()) - 1).abs() - 1;  // in [-1, 1]
    auto slope = 4 * amp / period;
    auto dist = (across - (base + amp * tri)).abs() / (1 + slope * slope).sqrt();
    mask = mask | (dist < b.px(p.width) / 2);
  }
  return at::where(mask, at::ones_like(b.x), b.x);
}

at::Tensor dotted_line(Batch& b, int s) {
  // Random straight lines through the image, drawn white in dashes of half a period.
  auto [xs, ys] = pixel_coords(b);
  auto mask = at::zeros({b.n, 1, b.h, b.w}, b.x.options().dtype(at::kBool));
  for (int i = 0; i < kDottedLines.back(); ++i) {
    auto u = b.rand({4, b.n, 1, 1, 1});
    if (i >= kDottedLines[s]) continue;
    auto px = u[0] * b.w, py = u[1] * b.h, angle = u[2] * kPi;
    auto dx = at::cos(angle), dy = at::sin(angle);
    auto rx = xs - px, ry = ys - py;
    auto across = (rx * dy - ry * dx).abs();
    auto along = (rx * dx + ry * dy) / b.px(kDottedPeriod) + u[3];
    auto on = (along - along.floor()) < 0.5;
    mask = mask | ((across < b.px(kDottedWidth) / 2) & on);
  }
  return at::where(mask, at::ones_like(b.x), b.x);
}

using CorruptionFn = at::Tensor (*)(Batch&, int);
const std::vector<std::pair<std::string, CorruptionFn>>& registry() {
  static const std::vector<std::pair<std::string, CorruptionFn>> r{
      {"gaussian_noise", gaussian_noise}, {"shot_noise", shot_noise},     {"impulse_noise", impulse_noise},
      {"speckle_noise", speckle_noise},   {"gaussian_blur", gaussian_blur_c}, {"motion_blur", motion_blur},
      {"glass_blur", glass_blur},         {"rotate", rotate},             {"shear", shear},
      {"scale", scale},                   {"translate", translate},       {"elastic", elastic},
      {"brightness", brightness},         {"contrast", contrast},         {"inverse", inverse},
      {"fog", fog},                       {"pixelate", pixelate},         {"jpeg", jpeg},
      {"stripe", stripe},                 {"zigzag", zigzag},             {"dotted_line", dotted_line},
  };
  return r;
}

CorruptionFn find_corruption(const std::string& name) {
  for (const auto& [n, fn] : registry()) {
    if (n == name) return fn;
  }
  std::string known;
  for (const auto& [n, fn] : registry()) known += (known.empty() ? "" : ", ") + n;
  KDAUG_FAIL("unknown corruption '", name, "' (known: ", known, ")");
}

void check_severity(int severity) {
  KDAUG_CHECK(severity >= 1 && severity <= 5, "corruption severity must be in 1..5, got ", severity);
}

}  // namespace

std::vector<std::string> corruption_names() {
  std::vector<std::string> names;
  for (const auto& [n, fn] : registry()) names.push_back(n);
  return names;
}

std::vector<at::Tensor> corrupt_severities(const at::Tensor& images, const std::string& name,
                                           const std::vector<int>& severities, uint64_t seed) {
  const CorruptionFn fn = find_corruption(name);
  for (int s : severities) check_severity(s);
  KDAUG_CHECK(images.defined() && (images.dim() == 4 || images.dim() == 3),
              "corrupt: images must be [N,C,H,W] or [C,H,W], got ", images.defined() ? images.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(at::isFloatingType(images.scalar_type()), "corrupt: images must be floating point in [0,1], got ",
              images.scalar_type());
  const bool single = images.dim() == 3;
  auto x = single ? images.unsqueeze(0) : images;
  KDAUG_CHECK(x.size(1) == 1 || x.size(1) == 3, "corrupt: images must have 1 or 3 channels, got ", x.size(1));
  std::vector<at::Tensor> out;
  out.reserve(severities.size());
  if (x.size(0) == 0) {
    for (size_t i = 0; i < severities.size(); ++i) out.push_back(images.clone());
    return out;
  }
  Batch b(x.to(at::kFloat).contiguous(), derive_seed(seed, name));
  for (int s : severities) {
    b.restart();
    auto y = fn(b, s - 1).to(images.scalar_type());
    out.push_back(single ? y.squeeze(0) : y);
  }
  return out;
}

at::Tensor corrupt(const at::Tensor& images, const std::string& name, int severity, uint64_t seed) {
  return corrupt_severities(images, name, {severity}, seed).front();
}

std::vector<CorruptionReport> evaluate_corruptions(const std::vector<models::ClassifierImpl*>& models,
                                                   const data::Dataset& test, const CorruptionOptions& opts) {
  KDAUG_CHECK(!models.empty(), "evaluate_corruptions: no model given");
  for (size_t i = 0; i < models.size(); ++i) {
    KDAUG_CHECK(models[i] != nullptr, "evaluate_corruptions: model ", i, " is null");
  }
  detail::check_batch_size(opts.batch_size, "evaluate_corruptions");
  const int64_t n = detail::checked_count(test, opts.limit, "evaluate_corruptions");
  const auto names = opts.names.empty() ? corruption_names() : opts.names;
  for (const auto& name : names) find_corruption(name);
  KDAUG_CHECK(!opts.severities.empty(), "evaluate_corruptions: no severity given");
  for (int s : opts.severities) check_severity(s);

  const size_t m = models.size();
  std::vector<CorruptionReport> reports(m);
  std::vector<std::vector<std::vector<int64_t>>> correct(
      m, std::vector<std::vector<int64_t>>(names.size(), std::vector<int64_t>(opts.severities.size(), 0)));
  std::vector<int64_t> clean(m, 0);
  std::vector<std::unique_ptr<detail::EvalModeGuard>> modes;
  std::vector<c10::Device> devices;
  for (auto* model : models) {
    modes.push_back(std::make_unique<detail::EvalModeGuard>(*model));
    devices.push_back(detail::model_device(*model));
  }
  c10::InferenceMode guard;
  const int64_t total = n * static_cast<int64_t>(names.size() * opts.severities.size() + 1);
  auto bar = detail::make_progress(opts.progress, "corruptions", total, opts.interactive);
  int64_t done = 0;
  for (int64_t i = 0, chunk = 0; i < n; i += opts.batch_size, ++chunk) {
    const int64_t bs = std::min(opts.batch_size, n - i);
    // Corrupted on the first model's device; each model gets a copy on its own.
    const auto x = detail::to_float01(test.images.narrow(0, i, bs), devices[0]);
    const auto y = test.labels.narrow(0, i, bs);
    auto score = [&](const at::Tensor& images, int64_t* counts) {
      for (size_t k = 0; k < m; ++k) {
        const auto logits = detail::forward_in_chunks(*models[k], images.to(devices[k]));
        counts[k] += detail::count_correct(logits, y.to(logits.device()));
      }
    };
    score(x, clean.data());
    done += bs;
    const uint64_t seed = derive_seed(opts.seed, "corrupt", static_cast<uint64_t>(chunk));
    for (size_t c = 0; c < names.size(); ++c) {
      // All severities at once: the random draws are made once and replayed (same images).
      const auto xcs = corrupt_severities(x, names[c], opts.severities, seed);
      for (size_t s = 0; s < opts.severities.size(); ++s) {
        std::vector<int64_t> counts(m, 0);
        score(xcs[s], counts.data());
        for (size_t k = 0; k < m; ++k) correct[k][c][s] += counts[k];
        done += bs;
        if (bar) bar->update(done, names[c]);
      }
    }
  }
  if (bar) bar->finish();
  for (size_t k = 0; k < m; ++k) {
    auto& r = reports[k];
    r.severities = opts.severities;
    r.n = n;
    r.seed = opts.seed;
    r.clean_accuracy = static_cast<double>(clean[k]) / static_cast<double>(n);
    double sum = 0;
    for (size_t c = 0; c < names.size(); ++c) {
      CorruptionResult cr;
      cr.name = names[c];
      double s_sum = 0;
      for (size_t s = 0; s < opts.severities.size(); ++s) {
        cr.accuracy.push_back(static_cast<double>(correct[k][c][s]) / static_cast<double>(n));
        s_sum += cr.accuracy.back();
      }
      cr.mean_accuracy = s_sum / static_cast<double>(opts.severities.size());
      sum += cr.mean_accuracy;
      r.results.push_back(std::move(cr));
    }
    r.mean_accuracy = sum / static_cast<double>(names.size());
  }
  return reports;
}

CorruptionReport evaluate_corruptions(models::ClassifierImpl& model, const data::Dataset& test,
                                      const CorruptionOptions& opts) {
  return evaluate_corruptions(std::vector<models::ClassifierImpl*>{&model}, test, opts).front();
}

McEReport mean_corruption_error(const CorruptionReport& model, const CorruptionReport& baseline) {
  KDAUG_CHECK(model.severities == baseline.severities, "mCE: model and baseline were evaluated at different severities");
  KDAUG_CHECK(model.results.size() == baseline.results.size(), "mCE: model has ", model.results.size(),
              " corruptions but the baseline has ", baseline.results.size());
  McEReport out;
  double sum = 0;
  int64_t count = 0;
  for (size_t c = 0; c < model.results.size(); ++c) {
    const auto& a = model.results[c];
    const auto& b = baseline.results[c];
    KDAUG_CHECK(a.name == b.name, "mCE: corruption ", c, " is '", a.name, "' for the model but '", b.name,
                "' for the baseline");
    double ea = 0, eb = 0;
    for (size_t s = 0; s < a.accuracy.size(); ++s) {
      ea += 1 - a.accuracy[s];
      eb += 1 - b.accuracy[s];
    }
    const double ce = eb > 0 ? ea / eb : std::nan("");
    out.ce[a.name] = ce;
    if (std::isfinite(ce)) {
      sum += ce;
      ++count;
    }
  }
  out.mce = count > 0 ? sum / static_cast<double>(count) : std::nan("");
  return out;
}

at::Tensor corruptions_preview_grid(const at::Tensor& image, uint64_t seed, int64_t scale) {
  KDAUG_CHECK(image.defined() && image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3),
              "corruptions preview: image must be [C,H,W] with C = 1 or 3, got ",
              image.defined() ? image.sizes() : at::IntArrayRef{});
  KDAUG_CHECK(scale >= 1 && scale <= 16, "corruptions preview: scale must be in 1..16, got ", scale);
  const auto x = detail::to_float01(image, c10::Device(c10::kCPU));
  const auto names = corruption_names();
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2);
  constexpr int64_t kGap = 1;
  constexpr uint8_t kGapGrey = 128;
  const int64_t rows = static_cast<int64_t>(names.size()), cols = 6;
  auto grid = at::full({c, rows * (h + kGap) + kGap, cols * (w + kGap) + kGap}, kGapGrey, at::kByte);
  auto put = [&](int64_t r, int64_t col, const at::Tensor& img) {
    const int64_t y0 = kGap + r * (h + kGap), x0 = kGap + col * (w + kGap);
    grid.slice(1, y0, y0 + h).slice(2, x0, x0 + w).copy_(img.mul(255).round_().clamp_(0, 255).to(at::kByte));
  };
  for (int64_t r = 0; r < rows; ++r) {
    put(r, 0, x);
    for (int s = 1; s <= 5; ++s) put(r, s, corrupt(x, names[static_cast<size_t>(r)], s, seed));
  }
  if (scale > 1) grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2);
  return grid;
}

void write_corruptions_preview(const std::string& png, const at::Tensor& image, uint64_t seed, int64_t scale) {
  augment::write_png(png, corruptions_preview_grid(image, seed, scale));
}

nlohmann::json to_json(const CorruptionReport& r) {
  nlohmann::json j;
  j["n"] = r.n;
  j["seed"] = r.seed;
  j["severities"] = r.severities;
  j["clean_accuracy"] = r.clean_accuracy;
  j["mean_accuracy"] = r.mean_accuracy;
  nlohmann::json cs = nlohmann::json::object();
  for (const auto& c : r.results) cs[c.name] = {{"accuracy", c.accuracy}, {"mean_accuracy", c.mean_accuracy}};
  j["corruptions"] = cs;
  return j;
}

}  // namespace kdaug::eval
