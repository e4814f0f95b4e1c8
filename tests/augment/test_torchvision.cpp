// The pure ops of kdaug::augment::functional against torchvision.transforms.functional (Debian
// python3-torchvision 0.14) on the same images and parameters. The test writes two images (RGB
// and gray, 17x23 so that centre conventions on odd and even sides both show) as raw float32,
// runs tests/augment/torchvision_ref.py once, and compares every case.
//
// Tolerances, and why:
//  - exact ops (crop after any padding, flips, invert, solarize, posterize, equalize, erase):
//    1e-6, i.e. identical up to the float32 rounding of k/255.
//  - photometric ops (brightness, contrast, saturation, gamma, sharpness, autocontrast, blur):
//    1e-5; the same formulas, evaluated in a different order in float32 (1e-4 for RGB contrast and
//    saturation: see kGrayWeights).
//  - bilinear geometry (rotate, scale, translate, shear, a full affine, resized crop): 1e-4.
//    Both resample with grid_sample(align_corners=false) in pixel-centre coordinates about the
//    image centre; torchvision builds its sampling grid with its own float32 arithmetic, kdaug
//    composes the inverse map in float64 and uses affine_grid, so coordinates differ by ~1e-6 px.
//  - nearest geometry: a source coordinate that lies within ~1e-6 of a half-pixel tie may round
//    the other way; at most 1% of the values may differ (in practice none or a few).
// Known, documented differences that are NOT compared: a non-zero `fill` with bilinear
// interpolation (torchvision multiplies by a resampled mask, kdaug resamples the image minus the
// fill and adds it back: both agree inside the image and differ in the one-pixel border band),
// and policy shears (torchvision's RandAugment shears about the top-left corner).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "kdaug/augment/functional.h"
#include "kdaug/core/rng.h"

namespace fs = std::filesystem;
namespace ka = kdaug::augment;
namespace F = kdaug::augment::functional;

namespace {

constexpr double kExact = 1e-6;      // identical up to float32 rounding of k/255
constexpr double kPhoto = 1e-5;      // same formula, different float32 evaluation order
constexpr double kBilinear = 1e-4;   // grid coordinates differ by ~1e-6 px
// RGB contrast and saturation go through grayscale: kdaug weighs R by ITU-R 601's 0.299 (weights
// summing to 1, as PIL does), torchvision's tensor path by 0.2989; the outputs differ by at most
// 1e-4 * |1 - factor| * R.
constexpr double kGrayWeights = 1e-4;
constexpr double kNearestFrac = 0.01;  // share of values allowed to differ under nearest

struct Case {
  std::string name, image, op;
  nlohmann::json args;
  std::function<at::Tensor(const at::Tensor&)> kdaug;
  double tol;
  double bad_frac = 0;  // share of values allowed to differ by more than tol (nearest only)
};

at::Tensor t1(double v) { return torch::tensor({v}, torch::kFloat); }
at::Tensor l1(int64_t v) { return torch::tensor({v}, torch::kLong); }

ka::Interp interp_of(const std::string& s) { return s == "bilinear" ? ka::Interp::kBilinear : ka::Interp::kNearest; }

std::vector<Case> make_cases() {
  std::vector<Case> c;
  for (const std::string im : {"rgb", "gray"}) {
    auto add = [&](std::string name, std::string op, nlohmann::json args, std::function<at::Tensor(const at::Tensor&)> f,
                   double tol, double bad = 0) {
      c.push_back({name + "_" + im, im, std::move(op), std::move(args), std::move(f), tol, bad});
    };
    // ---- exact geometry ----
    const std::vector<std::pair<std::string, ka::PadMode>> modes = {
        {"zero", ka::PadMode::kZero}, {"reflect", ka::PadMode::kReflect}, {"edge", ka::PadMode::kEdge}};
    for (const auto& [mname, mode] : modes) {
      add("crop_" + mname, "crop", {{"mode", mname}, {"pad", 3}, {"top", 1}, {"left", 5}, {"height", 17}, {"width", 23}},
          [mode = mode](const at::Tensor& x) { return F::pad_crop(x, 3, mode, 0.0, l1(1), l1(5), 17, 23); }, kExact);
    }
    add("crop_fill", "crop", {{"mode", "zero"}, {"fill", 0.5}, {"pad", 4}, {"top", 0}, {"left", 8}, {"height", 12}, {"width", 20}},
        [](const at::Tensor& x) { return F::pad_crop(x, 4, ka::PadMode::kZero, 0.5, l1(0), l1(8), 12, 20); }, kExact);
    add("hflip", "hflip", nlohmann::json::object(), [](const at::Tensor& x) { return F::hflip(x); }, kExact);
    add("vflip", "vflip", nlohmann::json::object(), [](const at::Tensor& x) { return F::vflip(x); }, kExact);
    // ---- resampling geometry ----
    for (const std::string ip : {"bilinear", "nearest"}) {
      const double tol = ip == "bilinear" ? kBilinear : kExact;
      const double bad = ip == "bilinear" ? 0 : kNearestFrac;
      const auto mode = interp_of(ip);
      add("rotate_" + ip, "rotate", {{"angle", 23.5}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::rotation_inverse(t1(23.5)), mode, 0.0); }, tol, bad);
      add("rotate_neg_" + ip, "rotate", {{"angle", -71.0}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::rotation_inverse(t1(-71.0)), mode, 0.0); }, tol, bad);
      add("scale_up_" + ip, "affine", {{"scale", 1.3}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::scale_inverse(t1(1.3)), mode, 0.0); }, tol, bad);
      add("scale_down_" + ip, "affine", {{"scale", 0.85}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::scale_inverse(t1(0.85)), mode, 0.0); }, tol, bad);
      add("translate_" + ip, "affine", {{"translate", {2.25, -3.5}}, {"interp", ip}},
          [mode](const at::Tensor& x) {
            return F::warp_affine(x, F::translation_inverse(t1(2.25), t1(-3.5)), mode, 0.0);
          },
          tol, bad);
      add("shear_x_" + ip, "affine", {{"shear", {15.0, 0.0}}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::shear_inverse(t1(15), t1(0)), mode, 0.0); }, tol, bad);
      add("shear_y_" + ip, "affine", {{"shear", {0.0, -12.0}}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::shear_inverse(t1(0), t1(-12)), mode, 0.0); }, tol, bad);
      add("shear_xy_" + ip, "affine", {{"shear", {9.0, 6.0}}, {"interp", ip}},
          [mode](const at::Tensor& x) { return F::warp_affine(x, F::shear_inverse(t1(9), t1(6)), mode, 0.0); }, tol, bad);
      // torchvision's forward map is T * R * S * Sh about the centre; its inverse is the product
      // of kdaug's inverses in the opposite order, which is how Pipeline fuses ops applied in the
      // order shear, scale, rotate, translate. TF.affine's angle turns clockwise while TF.rotate's
      // (and kdaug's) turns counter-clockwise: TF.affine(angle=-17) is a rotation by +17.
      add("affine_all_" + ip, "affine",
          {{"angle", -17.0}, {"translate", {1.5, 2.0}}, {"scale", 1.15}, {"shear", {7.0, -4.0}}, {"interp", ip}},
          [mode](const at::Tensor& x) {
            auto inv = F::shear_inverse(t1(7), t1(-4))
                           .bmm(F::scale_inverse(t1(1.15)))
                           .bmm(F::rotation_inverse(t1(17)))
                           .bmm(F::translation_inverse(t1(1.5), t1(2.0)));
            return F::warp_affine(x, inv, mode, 0.0);
          },
          tol, bad);
    }
    // A fill colour: compared with nearest interpolation (see the header comment).
    add("rotate_fill_nearest", "rotate", {{"angle", 33.0}, {"interp", "nearest"}, {"fill", 0.4}},
        [](const at::Tensor& x) { return F::warp_affine(x, F::rotation_inverse(t1(33)), ka::Interp::kNearest, 0.4); },
        kExact, kNearestFrac);
    add("resized_crop_bilinear", "resized_crop",
        {{"top", 2}, {"left", 3}, {"height", 10}, {"width", 15}, {"out_h", 12}, {"out_w", 14}, {"interp", "bilinear"}},
        [](const at::Tensor& x) {
          return F::resized_crop(x, torch::tensor({{2.0, 3.0, 10.0, 15.0}}), 12, 14, ka::Interp::kBilinear);
        },
        kBilinear);
    add("resized_crop_down", "resized_crop",
        {{"top", 0}, {"left", 1}, {"height", 17}, {"width", 21}, {"out_h", 9}, {"out_w", 8}, {"interp", "bilinear"}},
        [](const at::Tensor& x) {
          return F::resized_crop(x, torch::tensor({{0.0, 1.0, 17.0, 21.0}}), 9, 8, ka::Interp::kBilinear);
        },
        kBilinear);
    // ---- photometric ----
    add("brightness", "brightness", {{"factor", 1.4}},
        [](const at::Tensor& x) { return F::adjust_brightness(x, t1(1.4)); }, kPhoto);
    add("contrast", "contrast", {{"factor", 0.55}}, [](const at::Tensor& x) { return F::adjust_contrast(x, t1(0.55)); },
        im == "rgb" ? kGrayWeights : kPhoto);
    add("contrast_up", "contrast", {{"factor", 1.8}}, [](const at::Tensor& x) { return F::adjust_contrast(x, t1(1.8)); },
        im == "rgb" ? kGrayWeights : kPhoto);
    if (im == "rgb") {
      add("saturation", "saturation", {{"factor", 1.6}},
          [](const at::Tensor& x) { return F::adjust_saturation(x, t1(1.6)); }, kGrayWeights);
    }
    add("gamma", "gamma", {{"gamma", 1.7}}, [](const at::Tensor& x) { return F::adjust_gamma(x, t1(1.7)); }, kPhoto);
    add("gamma_low", "gamma", {{"gamma", 0.6}}, [](const at::Tensor& x) { return F::adjust_gamma(x, t1(0.6)); }, kPhoto);
    add("sharpness", "sharpness", {{"factor", 1.8}},
        [](const at::Tensor& x) { return F::adjust_sharpness(x, t1(1.8)); }, kPhoto);
    add("invert", "invert", nlohmann::json::object(), [](const at::Tensor& x) { return F::invert(x); }, kExact);
    add("solarize", "solarize", {{"threshold", 0.5}}, [](const at::Tensor& x) { return F::solarize(x, t1(0.5)); },
        kExact);
    for (int bits : {1, 3, 6}) {
      add("posterize" + std::to_string(bits), "posterize", {{"bits", bits}},
          [bits](const at::Tensor& x) { return F::posterize(x, t1(bits)); }, kExact);
    }
    add("equalize", "equalize", nlohmann::json::object(), [](const at::Tensor& x) { return F::equalize(x); }, kExact);
    add("autocontrast", "autocontrast", nlohmann::json::object(), [](const at::Tensor& x) { return F::autocontrast(x); },
        kPhoto);
    add("gaussian_blur", "gaussian_blur", {{"kernel_size", 5}, {"sigma", 1.2}},
        [](const at::Tensor& x) { return F::gaussian_blur(x, 5, t1(1.2)); }, kPhoto);
    add("erase", "erase", {{"top", 3}, {"left", 4}, {"height", 6}, {"width", 9}, {"value", 0.25}},
        [](const at::Tensor& x) { return F::erase(x, torch::tensor({{3L, 4L, 6L, 9L}}), 0.25); }, kExact);
  }
  return c;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = make_cases();
  return c;
}

// A structured image with values k/255: a diagonal gradient, a bright square and noise, so that
// every op (solarize at 0.5, equalize, autocontrast) changes it. Contrast is lowered to [20,220]
// so autocontrast has work to do.
at::Tensor make_image(int64_t c, uint64_t seed) {
  auto gen = kdaug::make_generator(seed);
  const int64_t H = 17, W = 23;
  auto yy = torch::linspace(0, 1, H).view({1, 1, H, 1}), xx = torch::linspace(0, 1, W).view({1, 1, 1, W});
  auto base = 0.5 * yy + 0.3 * xx + 0.2 * torch::rand({1, c, H, W}, gen);
  base.slice(2, 4, 9).slice(3, 6, 13) += 0.3;
  auto u8 = (base.clamp(0, 1) * 200 + 20).round();
  return u8 / 255;
}

void write_f32(const fs::path& p, const at::Tensor& x) {
  auto c = x.contiguous().to(torch::kFloat);
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * 4));
}

at::Tensor read_f32(const fs::path& p, at::IntArrayRef shape) {
  auto t = torch::empty(shape, torch::kFloat);
  std::ifstream f(p, std::ios::binary | std::ios::ate);
  if (!f) return at::Tensor();
  const auto bytes = static_cast<int64_t>(f.tellg());
  if (bytes != t.numel() * 4) return at::Tensor();
  f.seekg(0);
  f.read(reinterpret_cast<char*>(t.data_ptr<float>()), bytes);
  return t;
}

// A python3 that imports torchvision: Debian's first (the one on PATH may be another), then PATH.
std::string find_python() {
  for (const std::string py : {"/usr/bin/python3", "python3"}) {
    const std::string probe = py + " -c 'import torchvision' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return py;
  }
  return "";
}

// One test over every case: the reference script (a torch import, ~2 s) runs once per process.
class Torchvision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kdaug_torchvision_ref_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    images_["rgb"] = make_image(3, 7);
    images_["gray"] = make_image(1, 8);
    nlohmann::json spec;
    for (const auto& [k, v] : images_) {
      write_f32(dir_ / (k + ".f32"), v);
      spec["images"][k] = {{"file", k + ".f32"}, {"shape", v.sizes().vec()}};
    }
    for (const auto& c : cases()) spec["cases"].push_back({{"name", c.name}, {"image", c.image}, {"op", c.op}, {"args", c.args}});
    std::ofstream(dir_ / "spec.json") << spec.dump(1);
    const auto py = find_python();
    if (py.empty()) {
      error_ = "python3 with torchvision not found (tried /usr/bin/python3 and python3 on PATH): "
               "run scripts/install-deps.sh, which installs Debian's python3-torchvision";
      return;
    }
    const std::string script = std::string(KDAUG_SOURCE_DIR) + "/tests/augment/torchvision_ref.py";
    const std::string cmd = py + " " + script + " " + (dir_ / "spec.json").string() + " > " +
                            (dir_ / "log.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream f(dir_ / "log.txt");
      error_ = "torchvision_ref.py failed: " + cmd + "\n" +
               std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
  static std::map<std::string, at::Tensor> images_;
  static std::string error_;
};
fs::path Torchvision::dir_;
std::map<std::string, at::Tensor> Torchvision::images_;
std::string Torchvision::error_;

TEST_F(Torchvision, EveryOpMatchesWithinTolerance) {
  ASSERT_TRUE(error_.empty()) << error_;
  ASSERT_GT(cases().size(), 40u);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto ours = c.kdaug(images_.at(c.image));
    const auto ref = read_f32(dir_ / (c.name + ".f32"), ours.sizes());
    ASSERT_TRUE(ref.defined()) << c.name << ": torchvision output missing or not of shape " << ours.sizes();
    const auto diff = (ours - ref).abs();
    const double max_diff = diff.max().item<double>();
    const double bad = (diff > c.tol).to(torch::kDouble).mean().item<double>();
    if (c.bad_frac == 0) {
      EXPECT_LE(max_diff, c.tol) << c.name << ": max |kdaug - torchvision| = " << max_diff;
    } else {
      EXPECT_LE(bad, c.bad_frac) << c.name << ": " << bad * 100 << "% of values differ (max " << max_diff << ")";
    }
    // The comparison is not vacuous: the op changed the image (or its size).
    const auto& x = images_.at(c.image);
    if (ours.sizes() == x.sizes()) EXPECT_GT((ours - x).abs().max().item<double>(), 0.01) << c.name << " was a no-op";
  }
}

}  // namespace
