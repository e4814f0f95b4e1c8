// Pure, deterministic augmentation ops on batches: no randomness, no state. Every random op in
// kdaug::augment is one of these applied to per-sample parameters drawn by a sampler (op.h).
//
// Shapes and ranges (all functions): x is float [B,C,H,W] with values in [0,1], any C (1 and 3
// tested), any device. Per-sample parameters are tensors with leading dim B on x's device
// (float32 unless stated). Results have x's shape, dtype and device unless stated, and values
// stay in [0,1]. Geometry uses pixel-centre coordinates: pixel (i, j) has centre (x=j, y=i),
// y pointing down, and "centred" coordinates subtract ((W-1)/2, (H-1)/2). These match
// torchvision.transforms.functional and grid_sample(align_corners=false).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace kdaug::augment {

enum class Interp { kBilinear, kNearest };
enum class PadMode { kZero, kReflect, kEdge };

std::string to_string(Interp i);
std::string to_string(PadMode m);

namespace functional {

// ---- geometry -------------------------------------------------------------------------------
// Inverse maps (output centred pixel coords -> input centred pixel coords) as float [B,3,3],
// built on `like`'s device. Rotation is counter-clockwise for positive degrees (as
// torchvision's rotate); shear follows torchvision's affine(shear=[sx, sy]); translation is in
// pixels (+x right, +y down); scale > 1 enlarges the content.
at::Tensor rotation_inverse(const at::Tensor& degrees);                     // degrees [B]
at::Tensor scale_inverse(const at::Tensor& scale);                          // scale [B] > 0
at::Tensor translation_inverse(const at::Tensor& tx, const at::Tensor& ty);  // pixels [B]
at::Tensor shear_inverse(const at::Tensor& sx_deg, const at::Tensor& sy_deg);
at::Tensor hflip_inverse(const at::Tensor& apply);  // apply bool [B]: identity where false
at::Tensor vflip_inverse(const at::Tensor& apply);

// One resampling of x through per-sample inverse maps `inv` (float [B,3,3], centred pixel
// coordinates). Points mapped outside the image take `fill`. Samples whose map is exactly the
// identity are returned unchanged (bit for bit).
at::Tensor warp_affine(const at::Tensor& x, const at::Tensor& inv, Interp interp, double fill);

at::Tensor hflip(const at::Tensor& x);
at::Tensor vflip(const at::Tensor& x);

// Pads every side by `pad` pixels (zero -> `fill`, reflect = mirror without repeating the
// edge, edge = replicate) and crops an out_h x out_w window whose top-left corner in the padded
// image is (top[b], left[b]) (int64 [B], 0 <= top <= H + 2 pad - out_h). Exact (gather only).
at::Tensor pad_crop(const at::Tensor& x, int64_t pad, PadMode mode, double fill, const at::Tensor& top,
                    const at::Tensor& left, int64_t out_h, int64_t out_w);

// Crops box (top, left, h, w) (float [B,4], pixels, inside the image) and resizes it to
// out_h x out_w, like torchvision's resized_crop (bilinear align_corners=false, no antialias).
at::Tensor resized_crop(const at::Tensor& x, const at::Tensor& box, int64_t out_h, int64_t out_w, Interp interp);

// ---- photometric (factors per sample, [B]) ----------------------------------------------------
// Semantics of torchvision.transforms.functional.adjust_* on float images.
at::Tensor adjust_brightness(const at::Tensor& x, const at::Tensor& factor);
at::Tensor adjust_contrast(const at::Tensor& x, const at::Tensor& factor);
at::Tensor adjust_saturation(const at::Tensor& x, const at::Tensor& factor);  // identity for C != 3
at::Tensor adjust_gamma(const at::Tensor& x, const at::Tensor& gamma);
at::Tensor adjust_sharpness(const at::Tensor& x, const at::Tensor& factor);
at::Tensor invert(const at::Tensor& x);
at::Tensor solarize(const at::Tensor& x, const at::Tensor& threshold);  // invert where x >= threshold
// Keeps the top `bits` (float [B], integers 1..8) of each 8-bit level (x rounded to k/255).
at::Tensor posterize(const at::Tensor& x, const at::Tensor& bits);
// Histogram equalisation per sample and channel on 8-bit levels (torchvision's algorithm).
at::Tensor equalize(const at::Tensor& x);
// Stretches each sample/channel to [0,1] (torchvision's autocontrast).
at::Tensor autocontrast(const at::Tensor& x);
// Separable Gaussian blur, odd kernel size, per-sample sigma > 0, reflect padding (torchvision).
at::Tensor gaussian_blur(const at::Tensor& x, int64_t kernel_size, const at::Tensor& sigma);

// ---- occlusion ----------------------------------------------------------------------------------
// Sets box (top, left, h, w) (int64 [B,4]; h or w 0 = nothing) to `value` in every channel.
at::Tensor erase(const at::Tensor& x, const at::Tensor& box, double value);

// ---- perturbations (the x'' of the method) ------------------------------------------------------
// Noise comes from a counter-based hash of (seed[b], element index) computed with integer tensor
// ops, so a sample's noise depends only on its own int64 seed: the same on every device and
// thread count, independent of the rest of the batch (select/cat of parameters keeps it).
// seed: int64 [B] (any values). Levels are in pixel units of [0,1] images; results are clamped.
at::Tensor hash_uniform(const at::Tensor& seed, int64_t numel_per_sample, const at::Tensor& like);  // [B, n] in (0,1)
at::Tensor hash_normal(const at::Tensor& seed, int64_t numel_per_sample, const at::Tensor& like);   // [B, n] ~ N(0,1)
at::Tensor gaussian_noise(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& seed);
at::Tensor uniform_noise(const at::Tensor& x, const at::Tensor& level, const at::Tensor& seed);  // U(-l, l)
// Each element independently becomes 0 with probability amount/2 and 1 with amount/2.
at::Tensor salt_pepper(const at::Tensor& x, const at::Tensor& amount, const at::Tensor& seed);
at::Tensor speckle(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& seed);  // x + x*N(0, sigma^2)

// ---- helpers ------------------------------------------------------------------------------------
// where(apply[b], y[b], x[b]) for bool apply [B].
at::Tensor select_samples(const at::Tensor& apply, const at::Tensor& y, const at::Tensor& x);

}  // namespace functional
}  // namespace kdaug::augment
