// Every op of the recipe: parsing/checking of its parameters, its sampler and its apply().
#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <set>
#include <sstream>

#include "kdaug/augment/functional.h"
#include "kdaug/augment/op.h"
#include "kdaug/core/error.h"

namespace kdaug::augment {

at::Tensor Op::inverse_matrix(const OpParams&, const ImageShape&) const {
  TORCH_CHECK(false, name(), " is not an affine op");
}

namespace {

namespace F = functional;
using Range = std::pair<double, double>;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string fmt(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
std::string fmt(const Range& r) { return "[" + fmt(r.first) + ", " + fmt(r.second) + "]"; }

// Reads one op's parameter map, rejecting unknown keys and out-of-range values with the recipe
// path and the bad value in the message.
class Args {
 public:
  Args(const YAML::Node& node, std::string where, std::vector<std::string> known)
      : node_(node), where_(std::move(where)), known_(std::move(known)) {
    if (!node_ || node_.IsNull()) return;
    KDAUG_CHECK(node_.IsMap(), where_, ": parameters must be a map like {p: 0.5}, got '", dump(node_), "'");
    for (const auto& kv : node_) {
      const auto key = kv.first.as<std::string>();
      KDAUG_CHECK(std::find(known_.begin(), known_.end(), key) != known_.end(), where_, ": unknown parameter '",
                  key, "' (known: ", join(known_), ")");
    }
  }

  bool has(const std::string& key) const { return node_ && node_.IsMap() && node_[key]; }

  double num(const std::string& key, double def, double lo, double hi) const {
    if (!has(key)) return def;
    const double v = scalar(node_[key], key);
    KDAUG_CHECK(v >= lo && v <= hi, where_, ".", key, ": must be in [", lo, ", ", hi, "], got ", v);
    return v;
  }

  int64_t integer(const std::string& key, int64_t def, int64_t lo, int64_t hi) const {
    if (!has(key)) return def;
    const double v = scalar(node_[key], key);
    KDAUG_CHECK(v == std::floor(v), where_, ".", key, ": must be an integer, got ", v);
    KDAUG_CHECK(v >= lo && v <= hi, where_, ".", key, ": must be in [", lo, ", ", hi, "], got ", v);
    return static_cast<int64_t>(v);
  }

  double prob(const std::string& key, double def) const { return num(key, def, 0, 1); }

  // A number v (mapped by `from_number`, e.g. v -> [-v, v]) or a list [lo, hi]; both ends must be
  // within [lo, hi] and ordered.
  Range range(const std::string& key, Range def, double lo, double hi,
              const std::function<Range(double)>& from_number) const {
    if (!has(key)) return def;
    const YAML::Node n = node_[key];
    Range r;
    if (n.IsSequence()) {
      KDAUG_CHECK(n.size() == 2, where_, ".", key, ": expected a number or [min, max], got '", dump(n), "'");
      r = {scalar(n[0], key), scalar(n[1], key)};
    } else {
      r = from_number(scalar(n, key));
    }
    KDAUG_CHECK(r.first <= r.second, where_, ".", key, ": min must be <= max, got ", fmt(r));
    KDAUG_CHECK(r.first >= lo && r.second <= hi, where_, ".", key, ": must lie in [", lo, ", ", hi, "], got ",
                fmt(r));
    return r;
  }

  std::string choice(const std::string& key, const std::string& def, const std::vector<std::string>& options) const {
    if (!has(key)) return def;
    const YAML::Node n = node_[key];
    KDAUG_CHECK(n.IsScalar(), where_, ".", key, ": expected one of ", join(options), ", got '", dump(n), "'");
    const auto v = n.as<std::string>();
    KDAUG_CHECK(std::find(options.begin(), options.end(), v) != options.end(), where_, ".", key, ": unknown value '",
                v, "' (known: ", join(options), ")");
    return v;
  }

  Interp interp(Interp def) const {
    const auto s = choice("interpolation", to_string(def), {"bilinear", "nearest"});
    return s == "bilinear" ? Interp::kBilinear : Interp::kNearest;
  }

  const std::string& where() const { return where_; }

 private:
  static std::string dump(const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
  }
  double scalar(const YAML::Node& n, const std::string& key) const {
    KDAUG_CHECK(n.IsScalar(), where_, ".", key, ": expected a number, got '", dump(n), "'");
    try {
      return n.as<double>();
    } catch (const YAML::Exception&) {
      KDAUG_FAIL(where_, ".", key, ": expected a number, got '", n.as<std::string>(), "'");
    }
  }

  YAML::Node node_;
  std::string where_;
  std::vector<std::string> known_;
};

Range symmetric(double v) { return {-v, v}; }
Range around_one(double v) { return {std::max(0.0, 1 - v), 1 + v}; }
Range fixed(double v) { return {v, v}; }

// ---- sampling helpers: CPU generator, results moved to the device ------------------------------

at::TensorOptions cpu_f64() { return at::TensorOptions().dtype(at::kDouble); }

at::Tensor uniform(int64_t b, const Range& r, at::Generator& gen) {
  return at::rand({b}, gen, cpu_f64()) * (r.second - r.first) + r.first;
}
at::Tensor coin(int64_t b, double p, at::Generator& gen) { return at::rand({b}, gen, cpu_f64()) < p; }
// Integers uniform in [0, n) per sample, for per-sample n (float64 [B], n >= 1).
at::Tensor randbelow(const at::Tensor& n, at::Generator& gen) {
  return (at::rand(n.sizes(), gen, cpu_f64()) * n).floor().clamp_max(n - 1).to(at::kLong);
}
at::Tensor seeds(int64_t b, at::Generator& gen) {
  return at::randint(0, int64_t{1} << 62, {b}, gen, at::TensorOptions().dtype(at::kLong));
}
at::Tensor f32(const at::Tensor& t, c10::Device d) { return t.to(d, at::kFloat); }
at::Tensor on(const at::Tensor& t, c10::Device d) { return t.to(d); }

const at::Tensor& get(const OpParams& p, const std::string& key, const std::string& op) {
  auto it = p.find(key);
  TORCH_CHECK(it != p.end(), op, ": parameters lack '", key, "'");
  return it->second;
}

// ---- geometric -----------------------------------------------------------------------------------

// A resampling affine op: subclasses give the per-sample inverse matrix.
class AffineOp : public Op {
 public:
  AffineOp(const Args& a, double p_def) : p_(a.prob("p", p_def)), interp_(a.interp(Interp::kBilinear)) {
    fill_ = a.num("fill", 0.0, 0.0, 1.0);
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::warp_affine(x, inverse_matrix(p, {x.size(1), x.size(2), x.size(3)}), interp_, fill_);
  }
  bool fusable(const ImageShape&) const override { return true; }
  bool resamples() const override { return true; }
  c10::optional<Interp> interp() const override { return interp_; }
  c10::optional<double> fill() const override { return fill_; }

 protected:
  std::string common() const {
    return "p=" + fmt(p_) + ", interpolation=" + to_string(interp_) + ", fill=" + fmt(fill_);
  }
  double p_;
  Interp interp_;
  double fill_;
};

class Rotate : public AffineOp {
 public:
  explicit Rotate(const Args& a)
      : AffineOp(a, 1.0), deg_(a.range("degrees", {-10, 10}, -360, 360, [&](double v) {
          KDAUG_CHECK(v >= 0, a.where(), ".degrees: a single value must be >= 0 (it means [-v, v]), got ", v);
          return symmetric(v);
        })) {}
  std::string name() const override { return "rotate"; }
  std::string describe() const override { return "rotate(degrees=" + fmt(deg_) + ", " + common() + ")"; }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    auto angle = uniform(b, deg_, g) * apply;
    return {{"apply", on(apply, d)}, {"angle", f32(angle, d)}};
  }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    return F::rotation_inverse(get(p, "angle", "rotate"));
  }

 private:
  Range deg_;
};

class Scale : public AffineOp {
 public:
  explicit Scale(const Args& a) : AffineOp(a, 1.0) {
    lo_ = a.num("min", 0.9, 1e-3, 1e3);
    hi_ = a.num("max", 1.1, 1e-3, 1e3);
    KDAUG_CHECK(lo_ <= hi_, a.where(), ": min must be <= max, got min ", lo_, " max ", hi_);
  }
  std::string name() const override { return "scale"; }
  std::string describe() const override {
    return "scale(min=" + fmt(lo_) + ", max=" + fmt(hi_) + ", " + common() + ")";
  }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    auto s = at::where(apply, uniform(b, {lo_, hi_}, g), at::ones({b}, cpu_f64()));
    return {{"apply", on(apply, d)}, {"scale", f32(s, d)}};
  }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    return F::scale_inverse(get(p, "scale", "scale"));
  }

 private:
  double lo_, hi_;
};

class Translate : public AffineOp {
 public:
  explicit Translate(const Args& a) : AffineOp(a, 1.0) {
    fx_ = a.num("x", 0.1, 0, 1);
    fy_ = a.num("y", 0.1, 0, 1);
  }
  std::string name() const override { return "translate"; }
  std::string describe() const override {
    return "translate(x=" + fmt(fx_) + ", y=" + fmt(fy_) + ", " + common() + ")";
  }
  OpParams sample(int64_t b, const ImageShape& in, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    auto tx = uniform(b, symmetric(fx_ * in.w), g) * apply;
    auto ty = uniform(b, symmetric(fy_ * in.h), g) * apply;
    return {{"apply", on(apply, d)}, {"tx", f32(tx, d)}, {"ty", f32(ty, d)}};
  }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    return F::translation_inverse(get(p, "tx", "translate"), get(p, "ty", "translate"));
  }

 private:
  double fx_, fy_;
};

class Shear : public AffineOp {
 public:
  explicit Shear(const Args& a) : AffineOp(a, 1.0) {
    auto sym = [&](double v) {
      KDAUG_CHECK(v >= 0, a.where(), ": a single shear value must be >= 0 (it means [-v, v]), got ", v);
      return symmetric(v);
    };
    x_ = a.range("x", {-10, 10}, -89, 89, sym);
    y_ = a.range("y", {0, 0}, -89, 89, sym);
  }
  std::string name() const override { return "shear"; }
  std::string describe() const override {
    return "shear(x=" + fmt(x_) + ", y=" + fmt(y_) + ", " + common() + ")";
  }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    auto sx = uniform(b, x_, g) * apply;
    auto sy = uniform(b, y_, g) * apply;
    return {{"apply", on(apply, d)}, {"shear_x", f32(sx, d)}, {"shear_y", f32(sy, d)}};
  }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    return F::shear_inverse(get(p, "shear_x", "shear"), get(p, "shear_y", "shear"));
  }

 private:
  Range x_, y_;
};

class Flip : public Op {
 public:
  Flip(const Args& a, bool horizontal) : horizontal_(horizontal), p_(a.prob("p", 0.5)) {}
  std::string name() const override { return horizontal_ ? "hflip" : "vflip"; }
  std::string describe() const override { return name() + "(p=" + fmt(p_) + ")"; }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    return {{"apply", on(coin(b, p_, g), d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::select_samples(get(p, "apply", name()), horizontal_ ? F::hflip(x) : F::vflip(x), x);
  }
  bool fusable(const ImageShape&) const override { return true; }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    const auto& a = get(p, "apply", name());
    return horizontal_ ? F::hflip_inverse(a) : F::vflip_inverse(a);
  }

 private:
  bool horizontal_;
  double p_;
};

// Random crop after padding (torchvision RandomCrop(size, padding, padding_mode, fill)).
class Crop : public Op {
 public:
  explicit Crop(const Args& a) {
    pad_ = a.integer("padding", 0, 0, 4096);
    if (a.has("size")) size_ = a.integer("size", 0, 1, 1 << 20);
    const auto m = a.choice("padding_mode", "zero", {"zero", "reflect", "edge"});
    mode_ = m == "zero" ? PadMode::kZero : m == "reflect" ? PadMode::kReflect : PadMode::kEdge;
    fill_ = a.num("fill", 0.0, 0.0, 1.0);
    p_ = a.prob("p", 1.0);
  }
  std::string name() const override { return "crop"; }
  std::string describe() const override {
    return "crop(padding=" + std::to_string(pad_) + ", size=" + (size_ > 0 ? std::to_string(size_) : "input") +
           ", padding_mode=" + to_string(mode_) + ", fill=" + fmt(fill_) + ", p=" + fmt(p_) + ")";
  }
  ImageShape out_shape(const ImageShape& in) const override {
    return size_ > 0 ? ImageShape{in.c, size_, size_} : in;
  }
  OpParams sample(int64_t b, const ImageShape& in, at::Generator& g, c10::Device d) const override {
    const auto o = out_shape(in);
    KDAUG_CHECK(o.h <= in.h + 2 * pad_ && o.w <= in.w + 2 * pad_, "crop: size ", o.h, " larger than the padded ",
                in.h + 2 * pad_, "x", in.w + 2 * pad_, " image");
    auto apply = coin(b, p_, g);
    const int64_t rh = in.h + 2 * pad_ - o.h, rw = in.w + 2 * pad_ - o.w;
    auto top = randbelow(at::full({b}, double(rh + 1), cpu_f64()), g);
    auto left = randbelow(at::full({b}, double(rw + 1), cpu_f64()), g);
    // Not applied = the centre crop (the identity when the size is kept).
    top = at::where(apply, top, at::full({b}, rh / 2, top.options()));
    left = at::where(apply, left, at::full({b}, rw / 2, left.options()));
    return {{"apply", on(apply, d)}, {"top", on(top, d)}, {"left", on(left, d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    const auto o = out_shape({x.size(1), x.size(2), x.size(3)});
    return F::pad_crop(x, pad_, mode_, fill_, get(p, "top", "crop"), get(p, "left", "crop"), o.h, o.w);
  }
  bool fusable(const ImageShape& in) const override {
    return mode_ == PadMode::kZero && out_shape(in) == in;
  }
  at::Tensor inverse_matrix(const OpParams& p, const ImageShape&) const override {
    auto tx = get(p, "left", "crop").to(at::kDouble) - pad_;
    auto ty = get(p, "top", "crop").to(at::kDouble) - pad_;
    return F::translation_inverse(-tx, -ty);
  }
  // Integer shifts land on pixel centres: any interpolation gives the same values.
  c10::optional<double> fill() const override { return fill_; }

 private:
  int64_t pad_ = 0, size_ = 0;
  PadMode mode_ = PadMode::kZero;
  double fill_ = 0, p_ = 1;
};

// torchvision RandomResizedCrop(size, scale, ratio).
class ResizedCrop : public Op {
 public:
  explicit ResizedCrop(const Args& a) {
    KDAUG_CHECK(a.has("size"), a.where(), ": missing parameter 'size' (the output side in pixels)");
    size_ = a.integer("size", 0, 1, 1 << 20);
    scale_ = a.range("scale", {0.08, 1.0}, 1e-6, 1.0, fixed);
    ratio_ = a.range("ratio", {3.0 / 4, 4.0 / 3}, 1e-3, 1e3, fixed);
    interp_ = a.interp(Interp::kBilinear);
    p_ = a.prob("p", 1.0);
  }
  std::string name() const override { return "resized_crop"; }
  std::string describe() const override {
    return "resized_crop(size=" + std::to_string(size_) + ", scale=" + fmt(scale_) + ", ratio=" + fmt(ratio_) +
           ", interpolation=" + to_string(interp_) + ", p=" + fmt(p_) + ")";
  }
  ImageShape out_shape(const ImageShape& in) const override { return {in.c, size_, size_}; }
  OpParams sample(int64_t b, const ImageShape& in, at::Generator& g, c10::Device d) const override {
    constexpr int64_t kTries = 10;  // as torchvision: first of 10 tries that fits, else a fallback
    const double H = in.h, W = in.w, area = H * W;
    auto apply = coin(b, p_, g);
    auto target = at::rand({b, kTries}, g, cpu_f64()) * (scale_.second - scale_.first) * area + scale_.first * area;
    const double lr0 = std::log(ratio_.first), lr1 = std::log(ratio_.second);
    auto ratio = (at::rand({b, kTries}, g, cpu_f64()) * (lr1 - lr0) + lr0).exp();
    auto w = (target * ratio).sqrt().round();
    auto h = (target / ratio).sqrt().round();
    auto ok = (w > 0) & (w <= W) & (h > 0) & (h <= H);
    auto first = (ok.to(at::kLong) * at::arange(kTries, 0, -1, at::kLong)).argmax(1, true);
    auto any = ok.any(1);
    auto wc = w.gather(1, first).squeeze(1), hc = h.gather(1, first).squeeze(1);
    // Fallback: the largest central crop with the ratio clamped to the allowed range.
    double fw = W, fh = H;
    if (W / H < ratio_.first) {
      fh = std::round(fw / ratio_.first);
    } else if (W / H > ratio_.second) {
      fw = std::round(fh * ratio_.second);
    }
    auto use = apply & any;
    wc = at::where(use, wc, at::full({b}, fw, cpu_f64()));
    hc = at::where(use, hc, at::full({b}, fh, cpu_f64()));
    wc = at::where(apply, wc, at::full({b}, W, cpu_f64()));
    hc = at::where(apply, hc, at::full({b}, H, cpu_f64()));
    auto top = randbelow(H - hc + 1, g).to(at::kDouble);
    auto left = randbelow(W - wc + 1, g).to(at::kDouble);
    top = at::where(use, top, ((H - hc) / 2).floor());
    left = at::where(use, left, ((W - wc) / 2).floor());
    return {{"apply", on(apply, d)}, {"box", f32(at::stack({top, left, hc, wc}, 1), d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::resized_crop(x, get(p, "box", "resized_crop"), size_, size_, interp_);
  }

 private:
  int64_t size_;
  Range scale_, ratio_;
  Interp interp_;
  double p_;
};

// ---- photometric -----------------------------------------------------------------------------

// An op with one per-sample value drawn uniformly from a range, applied where the p-mask says.
class ValueOp : public Op {
 public:
  using Fn = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;
  ValueOp(std::string name, std::string key, Range r, double p, Fn fn, bool integer = false)
      : name_(std::move(name)), key_(std::move(key)), r_(r), p_(p), fn_(std::move(fn)), integer_(integer) {}
  std::string name() const override { return name_; }
  std::string describe() const override {
    return name_ + "(" + key_ + "=" + fmt(r_) + ", p=" + fmt(p_) + ")";
  }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    at::Tensor v = integer_ ? randbelow(at::full({b}, r_.second - r_.first + 1, cpu_f64()), g).to(at::kDouble) + r_.first
                            : uniform(b, r_, g);
    return {{"apply", on(apply, d)}, {key_, f32(v, d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::select_samples(get(p, "apply", name_), fn_(x, get(p, key_, name_)), x);
  }

 private:
  std::string name_, key_;
  Range r_;
  double p_;
  Fn fn_;
  bool integer_;
};

// An op without values (invert, equalize, autocontrast): only the p-mask.
class MaskOp : public Op {
 public:
  using Fn = std::function<at::Tensor(const at::Tensor&)>;
  MaskOp(std::string name, double p, Fn fn) : name_(std::move(name)), p_(p), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  std::string describe() const override { return name_ + "(p=" + fmt(p_) + ")"; }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    return {{"apply", on(coin(b, p_, g), d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::select_samples(get(p, "apply", name_), fn_(x), x);
  }

 private:
  std::string name_;
  double p_;
  Fn fn_;
};

// ---- occlusion --------------------------------------------------------------------------------

// torchvision RandomErasing(p, scale, ratio, value) and DeVries' cutout (a square of side
// `size` centred anywhere, clipped at the border).
class Erase : public Op {
 public:
  Erase(const Args& a, bool cutout) : cutout_(cutout) {
    if (cutout_) {
      size_ = a.integer("size", 8, 1, 1 << 20);
      p_ = a.prob("p", 1.0);
    } else {
      scale_ = a.range("scale", {0.02, 0.33}, 1e-6, 1.0, fixed);
      ratio_ = a.range("ratio", {0.3, 3.3}, 1e-3, 1e3, fixed);
      p_ = a.prob("p", 0.5);
    }
    value_ = a.num("value", 0.0, 0.0, 1.0);
  }
  std::string name() const override { return cutout_ ? "cutout" : "erase"; }
  std::string describe() const override {
    if (cutout_) return "cutout(size=" + std::to_string(size_) + ", value=" + fmt(value_) + ", p=" + fmt(p_) + ")";
    return "erase(scale=" + fmt(scale_) + ", ratio=" + fmt(ratio_) + ", value=" + fmt(value_) + ", p=" + fmt(p_) +
           ")";
  }
  OpParams sample(int64_t b, const ImageShape& in, at::Generator& g, c10::Device d) const override {
    const double H = in.h, W = in.w;
    auto apply = coin(b, p_, g);
    at::Tensor top, left, h, w;
    if (cutout_) {
      auto cy = randbelow(at::full({b}, H, cpu_f64()), g), cx = randbelow(at::full({b}, W, cpu_f64()), g);
      const int64_t half = size_ / 2;
      top = (cy - half).clamp_min(0), left = (cx - half).clamp_min(0);
      h = (cy - half + size_).clamp_max(in.h) - top;
      w = (cx - half + size_).clamp_max(in.w) - left;
    } else {
      auto area = uniform(b, scale_, g) * H * W;
      auto ratio = uniform(b, {std::log(ratio_.first), std::log(ratio_.second)}, g).exp();
      h = (area * ratio).sqrt().round().clamp(1, H);
      w = (area / ratio).sqrt().round().clamp(1, W);
      top = randbelow(H - h + 1, g);
      left = randbelow(W - w + 1, g);
      h = h.to(at::kLong), w = w.to(at::kLong);
    }
    h = h * apply, w = w * apply;
    return {{"apply", on(apply, d)}, {"box", on(at::stack({top, left, h, w}, 1), d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::erase(x, get(p, "box", name()), value_);
  }

 private:
  bool cutout_;
  int64_t size_ = 0;
  Range scale_, ratio_;
  double value_ = 0, p_ = 1;
};

// ---- perturbations ----------------------------------------------------------------------------

class Noise : public Op {
 public:
  using Fn = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor&);
  Noise(const Args& a, std::string name, std::string key, double def, double hi, Fn fn)
      : name_(std::move(name)), key_(std::move(key)), fn_(fn) {
    r_ = a.range(key_, {def, def}, 0, hi, fixed);
    p_ = a.prob("p", 1.0);
  }
  std::string name() const override { return name_; }
  std::string describe() const override { return name_ + "(" + key_ + "=" + fmt(r_) + ", p=" + fmt(p_) + ")"; }
  OpParams sample(int64_t b, const ImageShape&, at::Generator& g, c10::Device d) const override {
    auto apply = coin(b, p_, g);
    auto level = uniform(b, r_, g);
    return {{"apply", on(apply, d)}, {key_, f32(level, d)}, {"seed", on(seeds(b, g), d)}};
  }
  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    return F::select_samples(get(p, "apply", name_), fn_(x, get(p, key_, name_), get(p, "seed", name_)), x);
  }

 private:
  std::string name_, key_;
  Fn fn_;
  Range r_;
  double p_;
};

// ---- policies: RandAugment (Cubuk et al. 2020) and TrivialAugmentWide (Mueller & Hutter 2021)
// with torchvision's operation spaces. Differences from torchvision: shears turn about the image
// centre (torchvision: the top-left corner); the solarize threshold is on the [0,1] scale.
class Policy : public Op {
 public:
  enum Kind { kIdentity, kShearX, kShearY, kTranslateX, kTranslateY, kRotate, kBrightness, kColor, kContrast,
              kSharpness, kPosterize, kSolarize, kAutoContrast, kEqualize, kNumOps };

  Policy(const Args& a, bool trivial) : trivial_(trivial) {
    if (!trivial_) {
      n_ = a.integer("n", 2, 0, 16);
      m_ = a.integer("m", 9, 0, 1000);
    }
    bins_ = a.integer("num_magnitude_bins", 31, 2, 1000);
    KDAUG_CHECK(trivial_ || m_ < bins_, a.where(), ".m: must be < num_magnitude_bins (", bins_, "), got ", m_);
    interp_ = a.interp(Interp::kNearest);
    fill_ = a.num("fill", 0.0, 0.0, 1.0);
  }
  std::string name() const override { return trivial_ ? "trivial_augment" : "randaugment"; }
  std::string describe() const override {
    std::string s = name() + "(";
    if (!trivial_) s += "n=" + std::to_string(n_) + ", m=" + std::to_string(m_) + ", ";
    return s + "num_magnitude_bins=" + std::to_string(bins_) + ", interpolation=" + to_string(interp_) +
           ", fill=" + fmt(fill_) + ")";
  }

  OpParams sample(int64_t b, const ImageShape& in, at::Generator& g, c10::Device d) const override {
    const int64_t layers = trivial_ ? 1 : n_;
    auto op = randbelow(at::full({b, layers}, double(kNumOps), cpu_f64()), g);
    auto bin = trivial_ ? randbelow(at::full({b, layers}, double(bins_), cpu_f64()), g)
                        : at::full({b, layers}, m_, at::kLong);
    auto sign = at::where(coin(b * layers, 0.5, g).view({b, layers}), -1.0, 1.0);
    auto mag = at::zeros({b, layers}, cpu_f64());
    for (int64_t k = 0; k < kNumOps; ++k) {
      auto table = magnitudes(static_cast<Kind>(k), in);
      auto v = table.index({bin}) * (signed_op(static_cast<Kind>(k)) ? sign : at::ones_like(sign));
      mag = at::where(op == k, v, mag);
    }
    return {{"op", on(op, d)}, {"magnitude", f32(mag, d)}};
  }

  at::Tensor apply(const at::Tensor& x, const OpParams& p) const override {
    const auto& op = get(p, "op", name());
    const auto& mag = get(p, "magnitude", name());
    at::Tensor y = x;
    for (int64_t l = 0; l < op.size(1); ++l) {
      auto ol = op.select(1, l);
      for (int64_t k = 1; k < kNumOps; ++k) {  // k = 0 is the identity
        auto idx = (ol == k).nonzero().view({-1});
        if (idx.numel() == 0) continue;
        auto sub = y.index_select(0, idx);
        y = y.index_copy(0, idx, apply_one(static_cast<Kind>(k), sub, mag.select(1, l).index_select(0, idx)));
      }
    }
    return y;
  }

 private:
  static bool signed_op(Kind k) { return k >= kShearX && k <= kSharpness; }

  // Magnitude per bin (float64 [bins]) for op k on images of shape `in`.
  at::Tensor magnitudes(Kind k, const ImageShape& in) const {
    const auto o = cpu_f64();
    auto lin = [&](double a, double b) { return at::linspace(a, b, bins_, o); };
    switch (k) {
      case kShearX:
      case kShearY: return lin(0, trivial_ ? 0.99 : 0.3);
      case kTranslateX: return lin(0, trivial_ ? 32.0 : 150.0 / 331.0 * in.w);
      case kTranslateY: return lin(0, trivial_ ? 32.0 : 150.0 / 331.0 * in.h);
      case kRotate: return lin(0, trivial_ ? 135.0 : 30.0);
      case kBrightness:
      case kColor:
      case kContrast:
      case kSharpness: return lin(0, trivial_ ? 0.99 : 0.9);
      case kPosterize:
        return 8 - (at::arange(bins_, o) / ((bins_ - 1) / (trivial_ ? 6.0 : 4.0))).round();
      case kSolarize: return lin(1.0, 0.0);
      default: return at::zeros({bins_}, o);
    }
  }

  at::Tensor apply_one(Kind k, const at::Tensor& x, const at::Tensor& m) const {
    auto z = at::zeros_like(m);
    switch (k) {
      case kShearX: return F::warp_affine(x, F::shear_inverse(m.atan() * (180 / M_PI), z), interp_, fill_);
      case kShearY: return F::warp_affine(x, F::shear_inverse(z, m.atan() * (180 / M_PI)), interp_, fill_);
      case kTranslateX: return F::warp_affine(x, F::translation_inverse(m.trunc(), z), interp_, fill_);
      case kTranslateY: return F::warp_affine(x, F::translation_inverse(z, m.trunc()), interp_, fill_);
      case kRotate: return F::warp_affine(x, F::rotation_inverse(m), interp_, fill_);
      case kBrightness: return F::adjust_brightness(x, 1 + m);
      case kColor: return F::adjust_saturation(x, 1 + m);
      case kContrast: return F::adjust_contrast(x, 1 + m);
      case kSharpness: return F::adjust_sharpness(x, 1 + m);
      case kPosterize: return F::posterize(x, m);
      case kSolarize: return F::solarize(x, m);
      case kAutoContrast: return F::autocontrast(x);
      case kEqualize: return F::equalize(x);
      default: return x;
    }
  }

  bool trivial_;
  int64_t n_ = 0, m_ = 0, bins_ = 31;
  Interp interp_;
  double fill_;
};

// ---- registry ----------------------------------------------------------------------------------

struct Entry {
  std::vector<std::string> params;
  std::function<OpPtr(const Args&)> make;
};

const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> r = [] {
    std::map<std::string, Entry> m;
    const std::vector<std::string> affine = {"p", "interpolation", "fill"};
    auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    m["crop"] = {{"padding", "size", "padding_mode", "fill", "p"}, [](const Args& a) { return std::make_shared<Crop>(a); }};
    m["resized_crop"] = {{"size", "scale", "ratio", "interpolation", "p"},
                         [](const Args& a) { return std::make_shared<ResizedCrop>(a); }};
    m["hflip"] = {{"p"}, [](const Args& a) { return std::make_shared<Flip>(a, true); }};
    m["vflip"] = {{"p"}, [](const Args& a) { return std::make_shared<Flip>(a, false); }};
    m["rotate"] = {with({"degrees"}, affine), [](const Args& a) { return std::make_shared<Rotate>(a); }};
    m["scale"] = {with({"min", "max"}, affine), [](const Args& a) { return std::make_shared<Scale>(a); }};
    m["translate"] = {with({"x", "y"}, affine), [](const Args& a) { return std::make_shared<Translate>(a); }};
    m["shear"] = {with({"x", "y"}, affine), [](const Args& a) { return std::make_shared<Shear>(a); }};

    auto jitter = [&](const std::string& name, double def, ValueOp::Fn fn) {
      m[name] = {{"factor", "p"}, [=](const Args& a) {
                   auto r = a.range("factor", around_one(def), 0, 1e3, around_one);
                   return std::make_shared<ValueOp>(name, "factor", r, a.prob("p", 1.0), fn);
                 }};
    };
    jitter("brightness", 0.2, F::adjust_brightness);
    jitter("contrast", 0.2, F::adjust_contrast);
    jitter("saturation", 0.2, F::adjust_saturation);
    m["sharpness"] = {{"factor", "p"}, [](const Args& a) {
                        auto r = a.range("factor", around_one(0.5), 0, 1e3, around_one);
                        return std::make_shared<ValueOp>("sharpness", "factor", r, a.prob("p", 0.5),
                                                         F::adjust_sharpness);
                      }};
    m["gamma"] = {{"gamma", "p"}, [](const Args& a) {
                    auto r = a.range("gamma", {0.8, 1.25}, 1e-3, 1e3, fixed);
                    return std::make_shared<ValueOp>("gamma", "gamma", r, a.prob("p", 1.0), F::adjust_gamma);
                  }};
    m["solarize"] = {{"threshold", "p"}, [](const Args& a) {
                       auto r = a.range("threshold", {0.5, 0.5}, 0, 1, fixed);
                       return std::make_shared<ValueOp>("solarize", "threshold", r, a.prob("p", 0.5), F::solarize);
                     }};
    m["posterize"] = {{"bits", "p"}, [](const Args& a) {
                        auto r = a.range("bits", {4, 4}, 1, 8, fixed);
                        KDAUG_CHECK(r.first == std::floor(r.first) && r.second == std::floor(r.second), a.where(),
                                    ".bits: must be integers, got ", fmt(r));
                        return std::make_shared<ValueOp>("posterize", "bits", r, a.prob("p", 0.5), F::posterize,
                                                         true);
                      }};
    m["gaussian_blur"] = {{"kernel_size", "sigma", "p"}, [](const Args& a) {
                            const int64_t k = a.integer("kernel_size", 3, 1, 255);
                            KDAUG_CHECK(k % 2 == 1, a.where(), ".kernel_size: must be odd, got ", k);
                            auto r = a.range("sigma", {0.1, 2.0}, 1e-3, 1e3, fixed);
                            return std::make_shared<ValueOp>(
                                "gaussian_blur", "sigma", r, a.prob("p", 1.0),
                                [k](const at::Tensor& x, const at::Tensor& s) { return F::gaussian_blur(x, k, s); });
                          }};
    m["invert"] = {{"p"}, [](const Args& a) { return std::make_shared<MaskOp>("invert", a.prob("p", 0.5), F::invert); }};
    m["equalize"] = {{"p"},
                     [](const Args& a) { return std::make_shared<MaskOp>("equalize", a.prob("p", 0.5), F::equalize); }};
    m["autocontrast"] = {{"p"}, [](const Args& a) {
                           return std::make_shared<MaskOp>("autocontrast", a.prob("p", 0.5), F::autocontrast);
                         }};
    m["erase"] = {{"scale", "ratio", "value", "p"}, [](const Args& a) { return std::make_shared<Erase>(a, false); }};
    m["cutout"] = {{"size", "value", "p"}, [](const Args& a) { return std::make_shared<Erase>(a, true); }};
    m["gaussian_noise"] = {{"sigma", "p"}, [](const Args& a) {
                             return std::make_shared<Noise>(a, "gaussian_noise", "sigma", 0.1, 10, F::gaussian_noise);
                           }};
    m["uniform_noise"] = {{"level", "p"}, [](const Args& a) {
                            return std::make_shared<Noise>(a, "uniform_noise", "level", 0.1, 10, F::uniform_noise);
                          }};
    m["salt_pepper"] = {{"amount", "p"}, [](const Args& a) {
                          return std::make_shared<Noise>(a, "salt_pepper", "amount", 0.05, 1, F::salt_pepper);
                        }};
    m["speckle"] = {{"sigma", "p"},
                    [](const Args& a) { return std::make_shared<Noise>(a, "speckle", "sigma", 0.1, 10, F::speckle); }};
    m["randaugment"] = {{"n", "m", "num_magnitude_bins", "interpolation", "fill"},
                        [](const Args& a) { return std::make_shared<Policy>(a, false); }};
    m["trivial_augment"] = {{"num_magnitude_bins", "interpolation", "fill"},
                            [](const Args& a) { return std::make_shared<Policy>(a, true); }};
    return m;
  }();
  return r;
}

}  // namespace

OpPtr make_op(const std::string& name, const YAML::Node& params, const std::string& where) {
  const auto& r = registry();
  auto it = r.find(name);
  if (it == r.end()) {
    KDAUG_FAIL(where, ": unknown augmentation op '", name, "' (known: ", join(op_names()), ")");
  }
  return it->second.make(Args(params, where, it->second.params));
}

std::vector<std::string> op_names() {
  std::vector<std::string> v;
  for (const auto& kv : registry()) v.push_back(kv.first);
  return v;
}

}  // namespace kdaug::augment
