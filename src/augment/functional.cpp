#include "kdaug/augment/functional.h"

#include <ATen/ATen.h>

#include <cmath>

#include "kdaug/core/error.h"

namespace kdaug::augment {

std::string to_string(Interp i) { return i == Interp::kBilinear ? "bilinear" : "nearest"; }
std::string to_string(PadMode m) {
  switch (m) {
    case PadMode::kZero: return "zero";
    case PadMode::kReflect: return "reflect";
    case PadMode::kEdge: return "edge";
  }
  return "?";
}

namespace functional {
namespace {

void check_image(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.dim() == 4, op, ": expected images [B,C,H,W], got ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), op, ": expected a float image, got ", x.scalar_type());
}

// Per-sample values [B] viewed as [B,1,1,1] in x's dtype and device.
at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
  TORCH_CHECK(v.dim() == 1 && v.size(0) == x.size(0), "per-sample parameter must be [", x.size(0), "], got ",
              v.sizes());
  return v.to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
}

// Builds [B,3,3] from the 2x2 part (a b; c d) and translation (e, f), each [B] float64.
at::Tensor mat(const at::Tensor& a, const at::Tensor& b, const at::Tensor& e, const at::Tensor& c,
               const at::Tensor& d, const at::Tensor& f) {
  auto z = at::zeros_like(a);
  auto o = at::ones_like(a);
  return at::stack({a, b, e, c, d, f, z, z, o}, 1).view({-1, 3, 3});
}

at::Tensor f64(const at::Tensor& v) { return v.to(at::kDouble); }

at::Tensor grayscale(const at::Tensor& x) {
  if (x.size(1) == 3) {
    return (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
  }
  return x.size(1) == 1 ? x : x.mean(1, true);
}

at::Tensor blend(const at::Tensor& a, const at::Tensor& b, const at::Tensor& ratio) {
  return (ratio * a + (1 - ratio) * b).clamp(0, 1);
}

constexpr int64_t kMask32 = int64_t{0xffffffff};

// A 32-bit integer mixer (Wellons' hash prospector, 2-round "lowbias" family) on int64 tensors
// holding values in [0, 2^32). Both multipliers are < 2^31 so no product exceeds 2^63: the
// arithmetic stays defined on every backend.
at::Tensor mix32(at::Tensor v) {
  v = v.bitwise_xor(at::bitwise_right_shift(v, 16));
  v = v.mul(int64_t{0x21f0aaad}).bitwise_and_(kMask32);
  v = v.bitwise_xor(at::bitwise_right_shift(v, 15));
  v = v.mul(int64_t{0x735a2d97}).bitwise_and_(kMask32);
  return v.bitwise_xor(at::bitwise_right_shift(v, 15));
}

// 32 random bits per (sample, index): [B, n] int64.
at::Tensor hash_bits(const at::Tensor& seed, int64_t n, int64_t stream, const c10::Device& dev) {
  TORCH_CHECK(seed.dim() == 1, "noise seeds must be [B], got ", seed.sizes());
  TORCH_CHECK(n < (int64_t{1} << 30), "too many elements per sample for the noise hash: ", n);
  auto s = seed.to(dev, at::kLong);
  auto lo = s.bitwise_and(kMask32);
  auto hi = at::bitwise_right_shift(s, 32).bitwise_and_(kMask32);
  auto key = mix32(mix32(lo.bitwise_xor(stream & kMask32)).bitwise_xor(hi)).unsqueeze(1);  // [B,1]
  auto idx = at::arange(n, at::TensorOptions().dtype(at::kLong).device(dev)).mul_(int64_t{0x61c88647}).unsqueeze(0);
  auto v = mix32(idx.add(key).bitwise_and_(kMask32));
  return mix32(v.bitwise_xor(key));
}

at::Tensor bits_to_unit(const at::Tensor& bits, const at::Tensor& like) {
  // 24 bits convert exactly to float; +0.5 keeps the value strictly inside (0,1).
  return (at::bitwise_right_shift(bits, 8).to(like.scalar_type()) + 0.5) * (1.0 / 16777216.0);
}

}  // namespace

// ---- geometry ---------------------------------------------------------------------------------

at::Tensor rotation_inverse(const at::Tensor& degrees) {
  auto r = f64(degrees) * (M_PI / 180.0);
  auto c = r.cos(), s = r.sin();
  // cos/sin of exactly 0 are exact, so a zero angle gives the exact identity.
  auto z = at::zeros_like(r);
  return mat(c, -s, z, s, c, z);
}

at::Tensor scale_inverse(const at::Tensor& scale) {
  auto inv = 1.0 / f64(scale);
  auto z = at::zeros_like(inv);
  return mat(inv, z, z, z, inv, z);
}

at::Tensor translation_inverse(const at::Tensor& tx, const at::Tensor& ty) {
  auto x = f64(tx), y = f64(ty);
  auto o = at::ones_like(x), z = at::zeros_like(x);
  return mat(o, z, -x, z, o, -y);
}

at::Tensor shear_inverse(const at::Tensor& sx_deg, const at::Tensor& sy_deg) {
  // torchvision's forward shear (angle 0, scale 1) is [[1, -tx], [-ty, 1 + tx ty]] with
  // tx = tan(sx), ty = tan(sy); its determinant is 1 and this is its inverse.
  auto tx = (f64(sx_deg) * (M_PI / 180.0)).tan();
  auto ty = (f64(sy_deg) * (M_PI / 180.0)).tan();
  auto z = at::zeros_like(tx), o = at::ones_like(tx);
  return mat(1 + tx * ty, tx, z, ty, o, z);
}

at::Tensor hflip_inverse(const at::Tensor& apply) {
  auto s = at::where(apply.to(at::kBool), -1.0, 1.0).to(at::kDouble);
  auto z = at::zeros_like(s), o = at::ones_like(s);
  return mat(s, z, z, z, o, z);
}

at::Tensor vflip_inverse(const at::Tensor& apply) {
  auto s = at::where(apply.to(at::kBool), -1.0, 1.0).to(at::kDouble);
  auto z = at::zeros_like(s), o = at::ones_like(s);
  return mat(o, z, z, z, s, z);
}

at::Tensor warp_affine(const at::Tensor& x, const at::Tensor& inv, Interp interp, double fill) {
  check_image(x, "warp_affine");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(inv.dim() == 3 && inv.size(0) == B && inv.size(1) == 3 && inv.size(2) == 3,
              "warp_affine: expected matrices [", B, ",3,3], got ", inv.sizes());
  auto m = inv.to(x.device(), at::kDouble);
  // Normalised coordinates (align_corners=false) are u = 2 xc / W: conjugate by diag(2/W, 2/H).
  auto sc = at::tensor({1.0, double(H) / W, 2.0 / W, double(W) / H, 1.0, 2.0 / H},
                       at::TensorOptions().dtype(at::kDouble).device(x.device()))
                .view({1, 2, 3});
  auto theta = (m.slice(1, 0, 2) * sc).to(x.scalar_type());
  auto grid = at::affine_grid_generator(theta, {B, x.size(1), H, W}, /*align_corners=*/false);
  const int64_t mode = interp == Interp::kBilinear ? 0 : 1;
  // Zero padding blends out-of-image taps with 0; shifting by `fill` blends them with `fill`.
  at::Tensor y = fill == 0.0 ? at::grid_sampler(x, grid, mode, 0, false)
                             : at::grid_sampler(x - fill, grid, mode, 0, false).add_(fill);
  auto ident = (m == at::eye(3, m.options()).unsqueeze(0)).flatten(1).all(1);
  return select_samples(ident.logical_not(), y, x);
}

at::Tensor hflip(const at::Tensor& x) { return x.flip({3}); }
at::Tensor vflip(const at::Tensor& x) { return x.flip({2}); }

at::Tensor pad_crop(const at::Tensor& x, int64_t pad, PadMode mode, double fill, const at::Tensor& top,
                    const at::Tensor& left, int64_t out_h, int64_t out_w) {
  check_image(x, "pad_crop");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(out_h <= H + 2 * pad && out_w <= W + 2 * pad, "pad_crop: crop ", out_h, "x", out_w,
              " larger than the padded image ", H + 2 * pad, "x", W + 2 * pad);
  at::Tensor xp = x;
  if (pad > 0) {
    switch (mode) {
      case PadMode::kZero: xp = at::constant_pad_nd(x, {pad, pad, pad, pad}, fill); break;
      case PadMode::kReflect:
        KDAUG_CHECK(pad < H && pad < W, "crop: reflect padding ", pad, " must be smaller than the image ", H, "x",
                    W);
        xp = at::reflection_pad2d(x, {pad, pad, pad, pad});
        break;
      case PadMode::kEdge: xp = at::replication_pad2d(x, {pad, pad, pad, pad}); break;
    }
  }
  auto lopt = at::TensorOptions().dtype(at::kLong).device(x.device());
  auto rows = top.to(x.device(), at::kLong).view({B, 1}) + at::arange(out_h, lopt).view({1, out_h});
  auto cols = left.to(x.device(), at::kLong).view({B, 1}) + at::arange(out_w, lopt).view({1, out_w});
  auto g = xp.gather(2, rows.view({B, 1, out_h, 1}).expand({B, C, out_h, xp.size(3)}));
  return g.gather(3, cols.view({B, 1, 1, out_w}).expand({B, C, out_h, out_w}));
}

at::Tensor resized_crop(const at::Tensor& x, const at::Tensor& box, int64_t out_h, int64_t out_w, Interp interp) {
  check_image(x, "resized_crop");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(box.dim() == 2 && box.size(0) == B && box.size(1) == 4, "resized_crop: expected boxes [", B,
              ",4], got ", box.sizes());
  auto bx = box.to(x.device(), at::kDouble);
  auto top = bx.select(1, 0).unsqueeze(1), left = bx.select(1, 1).unsqueeze(1);
  auto h = bx.select(1, 2).unsqueeze(1), w = bx.select(1, 3).unsqueeze(1);
  auto dopt = at::TensorOptions().dtype(at::kDouble).device(x.device());
  // interpolate(align_corners=false): src = (dst + 0.5) * in/out - 0.5, clamped to the crop.
  auto ys = top + (at::arange(out_h, dopt).unsqueeze(0) + 0.5) * (h / out_h) - 0.5;
  auto xs = left + (at::arange(out_w, dopt).unsqueeze(0) + 0.5) * (w / out_w) - 0.5;
  ys = at::max(at::min(ys, top + h - 1), top);
  xs = at::max(at::min(xs, left + w - 1), left);
  auto u = ((2 * xs + 1) / W - 1).view({B, 1, out_w}).expand({B, out_h, out_w});
  auto v = ((2 * ys + 1) / H - 1).view({B, out_h, 1}).expand({B, out_h, out_w});
  auto grid = at::stack({u, v}, 3).to(x.scalar_type());
  return at::grid_sampler(x, grid, interp == Interp::kBilinear ? 0 : 1, 1, false);
}

// ---- photometric ------------------------------------------------------------------------------

at::Tensor adjust_brightness(const at::Tensor& x, const at::Tensor& factor) {
  check_image(x, "brightness");
  return (x * per_sample(factor, x)).clamp(0, 1);
}

at::Tensor adjust_contrast(const at::Tensor& x, const at::Tensor& factor) {
  check_image(x, "contrast");
  auto mean = grayscale(x).mean({1, 2, 3}, true);
  return blend(x, mean, per_sample(factor, x));
}

at::Tensor adjust_saturation(const at::Tensor& x, const at::Tensor& factor) {
  check_image(x, "saturation");
  if (x.size(1) != 3) return x;
  return blend(x, grayscale(x), per_sample(factor, x));
}

at::Tensor adjust_gamma(const at::Tensor& x, const at::Tensor& gamma) {
  check_image(x, "gamma");
  return x.pow(per_sample(gamma, x)).clamp(0, 1);
}

at::Tensor adjust_sharpness(const at::Tensor& x, const at::Tensor& factor) {
  check_image(x, "sharpness");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (H <= 2 || W <= 2) return x;
  auto k = at::ones({3, 3}, x.options());
  k[1][1] = 5.0;
  k = (k / 13.0).expand({C, 1, 3, 3});
  auto blurred = at::conv2d(x, k, at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, C);
  auto degenerate = x.clone();
  degenerate.slice(2, 1, H - 1).slice(3, 1, W - 1).copy_(blurred);
  (void)B;
  return blend(x, degenerate, per_sample(factor, x));
}

at::Tensor invert(const at::Tensor& x) { return 1.0 - x; }

at::Tensor solarize(const at::Tensor& x, const at::Tensor& threshold) {
  check_image(x, "solarize");
  return at::where(x >= per_sample(threshold, x), 1.0 - x, x);
}

at::Tensor posterize(const at::Tensor& x, const at::Tensor& bits) {
  check_image(x, "posterize");
  auto q = (x * 255).round();
  auto step = at::pow(2.0, 8 - per_sample(bits, x));
  return (q / step).floor() * step / 255;
}

at::Tensor equalize(const at::Tensor& x) {
  check_image(x, "equalize");
  const int64_t B = x.size(0), C = x.size(1);
  const int64_t N = B * C;
  auto q = (x * 255).round().clamp(0, 255).to(at::kLong).reshape({N, -1});
  auto fopt = x.options().dtype(at::kDouble);
  auto hist = at::zeros({N, 256}, fopt).scatter_add_(1, q, at::ones(q.sizes(), fopt));
  auto bins = at::arange(256, q.options());
  auto last = (hist > 0).to(at::kLong).mul(bins).amax(1, true);
  auto total = hist.sum(1, true);
  auto step = ((total - hist.gather(1, last)) / 255).floor();
  auto safe = at::where(step == 0, at::ones_like(step), step);
  auto lut = ((hist.cumsum(1) + (safe / 2).floor()) / safe).floor();
  lut = at::cat({at::zeros({N, 1}, fopt), lut.slice(1, 0, 255)}, 1).clamp(0, 255);
  auto mapped = lut.gather(1, q);
  auto out = at::where(step == 0, q.to(at::kDouble), mapped);
  return (out / 255).to(x.scalar_type()).view(x.sizes());
}

at::Tensor autocontrast(const at::Tensor& x) {
  check_image(x, "autocontrast");
  auto lo = x.amin({2, 3}, true), hi = x.amax({2, 3}, true);
  auto flat = hi == lo;
  auto scale = at::where(flat, at::ones_like(hi), 1.0 / (hi - lo));
  lo = at::where(flat, at::zeros_like(lo), lo);
  return ((x - lo) * scale).clamp(0, 1);
}

at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, const at::Tensor& sigma) {
  check_image(x, "gaussian_blur");
  TORCH_CHECK(k > 0 && k % 2 == 1, "gaussian_blur: kernel size must be odd and positive, got ", k);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t r = k / 2;
  KDAUG_CHECK(r < H && r < W, "gaussian_blur: kernel size ", k, " too large for a ", H, "x", W, " image");
  auto s = sigma.to(x.device(), x.scalar_type()).view({B, 1});
  auto t = at::linspace(-double(r), double(r), k, x.options()).view({1, k});
  auto kern = (-0.5 * (t / s).pow(2)).exp();
  kern = kern / kern.sum(1, true);                                           // [B,k]
  auto kc = kern.unsqueeze(1).expand({B, C, k}).reshape({B * C, 1, k});  // per (sample, channel)
  auto xp = at::reflection_pad2d(x.reshape({1, B * C, H, W}), {r, r, r, r});
  auto y = at::conv2d(xp, kc.view({B * C, 1, 1, k}), at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, B * C);
  y = at::conv2d(y, kc.view({B * C, 1, k, 1}), at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, B * C);
  return y.view({B, C, H, W});
}

// ---- occlusion ----------------------------------------------------------------------------------

at::Tensor erase(const at::Tensor& x, const at::Tensor& box, double value) {
  check_image(x, "erase");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(box.dim() == 2 && box.size(0) == B && box.size(1) == 4, "erase: expected boxes [", B, ",4], got ",
              box.sizes());
  auto b = box.to(x.device(), at::kLong);
  auto lopt = b.options();
  auto top = b.select(1, 0).unsqueeze(1), left = b.select(1, 1).unsqueeze(1);
  auto rows = at::arange(H, lopt).unsqueeze(0), cols = at::arange(W, lopt).unsqueeze(0);
  auto mr = (rows >= top).logical_and_(rows < top + b.select(1, 2).unsqueeze(1));
  auto mc = (cols >= left).logical_and_(cols < left + b.select(1, 3).unsqueeze(1));
  auto mask = mr.view({B, 1, H, 1}).logical_and(mc.view({B, 1, 1, W}));
  return x.masked_fill(mask, value);
}

// ---- perturbations ------------------------------------------------------------------------------

at::Tensor hash_uniform(const at::Tensor& seed, int64_t n, const at::Tensor& like) {
  return bits_to_unit(hash_bits(seed, n, int64_t{0x3c6ef372}, like.device()), like);
}

at::Tensor hash_normal(const at::Tensor& seed, int64_t n, const at::Tensor& like) {
  // Box-Muller: each pair of uniforms gives two normals (cos and sin halves).
  const int64_t m = (n + 1) / 2;
  auto u1 = bits_to_unit(hash_bits(seed, m, int64_t{0x1b873593}, like.device()), like);
  auto u2 = bits_to_unit(hash_bits(seed, m, int64_t{0x2545f491}, like.device()), like);
  auto r = (-2.0 * u1.log()).sqrt();
  auto a = u2 * (2 * M_PI);
  return at::cat({r * a.cos(), r * a.sin()}, 1).slice(1, 0, n);
}

at::Tensor gaussian_noise(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& seed) {
  check_image(x, "gaussian_noise");
  auto n = hash_normal(seed, x[0].numel(), x).view(x.sizes());
  return (x + n * per_sample(sigma, x)).clamp(0, 1);
}

at::Tensor uniform_noise(const at::Tensor& x, const at::Tensor& level, const at::Tensor& seed) {
  check_image(x, "uniform_noise");
  auto u = hash_uniform(seed, x[0].numel(), x).view(x.sizes());
  return (x + (2 * u - 1) * per_sample(level, x)).clamp(0, 1);
}

at::Tensor salt_pepper(const at::Tensor& x, const at::Tensor& amount, const at::Tensor& seed) {
  check_image(x, "salt_pepper");
  auto u = hash_uniform(seed, x[0].numel(), x).view(x.sizes());
  auto half = per_sample(amount, x) / 2;
  auto y = x.masked_fill(u < half, 0.0);
  return y.masked_fill(u > 1 - half, 1.0);
}

at::Tensor speckle(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& seed) {
  check_image(x, "speckle");
  auto n = hash_normal(seed, x[0].numel(), x).view(x.sizes());
  return (x + x * n * per_sample(sigma, x)).clamp(0, 1);
}

at::Tensor select_samples(const at::Tensor& apply, const at::Tensor& y, const at::Tensor& x) {
  return at::where(apply.to(x.device(), at::kBool).view({-1, 1, 1, 1}), y, x);
}

}  // namespace functional
}  // namespace kdaug::augment
