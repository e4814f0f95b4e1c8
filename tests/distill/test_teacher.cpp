// Teacher: frozen and gradient-free; reduced precision (bf16 autocast, channels-last) stays close
// to the fp32 teacher and hands back fp32 logits; autocast guards nest both ways.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/distill/teacher.h"
#include "kdaug/models/registry.h"

namespace kdaug::distill {
namespace {

models::Classifier resnet8(uint64_t seed) {
  models::ModelSpec spec;
  spec.name = "resnet8";
  return models::make_model(spec, seed);
}

at::Tensor images(int64_t n) {
  auto gen = make_generator(11);
  return at::rand({n, 1, 28, 28}, gen);
}

TEST(Teacher, FrozenEvalModeNoGrad) {
  auto m = resnet8(1);
  m->train();
  Teacher t(m);
  const auto y = t(images(4));
  EXPECT_FALSE(m->is_training());
  EXPECT_FALSE(y.requires_grad());
  for (const auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(Teacher, Bf16ChannelsLastAgreesWithFp32) {
  const auto x = images(64);
  Teacher fp32(resnet8(3));
  TeacherOptions o;
  o.precision = "bf16";
  o.channels_last = true;
  Teacher bf16(resnet8(3), o);  // same seed: the same weights
  const auto a = fp32(x), b = bf16(x);
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  EXPECT_TRUE(b.is_contiguous());
  // bfloat16 keeps 8 bits of mantissa: logits agree to a few per cent of their spread.
  const double spread = (a.max() - a.min()).item<double>();
  EXPECT_LT((a - b).abs().max().item<double>(), 0.1 * spread + 1e-3);
  EXPECT_GT(a.argmax(1).eq(b.argmax(1)).to(at::kDouble).mean().item<double>(), 0.9);
  // Features come back as fp32 too.
  const auto f = bf16.features(x);
  for (const auto& tap : f.taps) EXPECT_EQ(tap.scalar_type(), at::kFloat);
}

TEST(Teacher, NumericsNameEveryOptionThatChangesTheOutputs) {
  // The soft-label cache's key: teachers that round differently must not share a cache.
  TeacherOptions bf16;
  bf16.precision = "bf16";
  TeacherOptions bf16_nhwc = bf16;
  bf16_nhwc.channels_last = true;
  TeacherOptions unfolded;
  unfolded.fold_bn = false;
  const std::string plain = Teacher(resnet8(5)).numerics();
  EXPECT_EQ(plain, "precision=fp32 channels_last=0 fold_bn=1");
  EXPECT_EQ(Teacher(resnet8(5), bf16).numerics(), "precision=bf16 channels_last=0 fold_bn=1 logits=fp32");
  EXPECT_EQ(Teacher(resnet8(5), bf16_nhwc).numerics(), "precision=bf16 channels_last=1 fold_bn=1 logits=fp32");
  EXPECT_EQ(Teacher(resnet8(5), unfolded).numerics(), "precision=fp32 channels_last=0 fold_bn=0");
}

TEST(Teacher, FoldsBatchNormByDefaultAndAgreesWithTheUnfoldedTeacher) {
  const auto x = images(64);
  TeacherOptions plain;
  plain.fold_bn = false;
  Teacher unfolded(resnet8(4), plain);
  Teacher folded(resnet8(4));  // same seed: the same weights
  EXPECT_EQ(unfolded.folded_batch_norms(), 0);
  EXPECT_EQ(folded.folded_batch_norms(), 9);  // stem, 3 blocks x 2, 2 projection shortcuts
  const auto a = unfolded(x), b = folded(x);
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-4 * a.abs().max().item<double>() + 1e-5);
  EXPECT_TRUE(a.argmax(1).equal(b.argmax(1)));
  const auto fa = unfolded.features(x), fb = folded.features(x);
  for (size_t i = 0; i < fa.taps.size(); ++i) EXPECT_TRUE(at::allclose(fa.taps[i], fb.taps[i], 1e-4, 1e-4));
}

TEST(Teacher, AutocastGuardsNest) {
  const auto x = images(8);
  Teacher fp32(resnet8(5));
  const auto plain = fp32(x);
  {
    // A bf16 student step around an fp32 teacher: the teacher still computes in fp32 ...
    compat::AutocastGuard outer(true, c10::Device(c10::kCPU));
    EXPECT_TRUE(at::equal(fp32(x), plain));
    // ... and leaves the step's autocast on.
    EXPECT_TRUE(compat::autocast_enabled(false));
  }
  EXPECT_FALSE(compat::autocast_enabled(false));
  TeacherOptions o;
  o.precision = "bf16";
  Teacher bf16(resnet8(5), o);
  bf16(x);
  EXPECT_FALSE(compat::autocast_enabled(false));  // restored after a bf16 teacher call
}

TEST(Teacher, RejectsBadOptions) {
  TeacherOptions o;
  o.precision = "fp16";
  try {
    Teacher t(resnet8(1), o);
    FAIL() << "no error";
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Teacher(nullptr), kdaug::Error);
}

}  // namespace
}  // namespace kdaug::distill
