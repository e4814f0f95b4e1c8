// End to end: distilling a tiny student from a tiny teacher raises their agreement.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kdaug/core/rng.h"
#include "kdaug/distill/objective.h"
#include "kdaug/distill/teacher.h"
#include "tiny_net.h"

namespace kdaug::distill {
namespace {

using testing::TinyNet;
using testing::tiny_spec;

constexpr int64_t kClasses = 4;

// Synthetic separable images: each class lights up one quadrant of an 8x8 image, on noise.
struct Data {
  at::Tensor x, y;
};
Data make_data(int64_t n, at::Generator& gen) {
  Data d;
  d.y = at::randint(0, kClasses, {n}, gen, at::kLong);
  d.x = at::rand({n, 1, 8, 8}, gen) * 0.5;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = d.y[i].item<int64_t>();
    d.x[i].narrow(1, (c / 2) * 4, 4).narrow(2, (c % 2) * 4, 4).add_(0.5);
  }
  return d;
}

double agreement(TinyNet& student, const Teacher& teacher, const at::Tensor& x) {
  torch::NoGradGuard g;
  student->eval();
  const double a = (student->forward(x).argmax(1) == teacher(x).argmax(1)).to(at::kDouble).mean().item<double>();
  student->train();
  return a;
}

TEST(Integration, DistillationRaisesStudentTeacherAgreement) {
  at::Generator gen = make_generator(derive_seed(1234, "integration"));
  const Data train = make_data(256, gen);
  const Data test = make_data(256, gen);

  // Teacher: a few dozen CE steps on the synthetic task.
  TinyNet teacher_net(tiny_spec(1, 8, kClasses), 8, 16);
  teacher_net->init(gen, 0.3);
  {
    Objective ce{ObjectiveSpec::parse("{a: 1, original: {distance: ce}}")};
    torch::optim::Adam opt(teacher_net->parameters(), torch::optim::AdamOptions(0.02));
    for (int step = 0; step < 60; ++step) {
      const at::Tensor idx = at::randint(0, 256, {64}, gen, at::kLong);
      Objective::Views v;
      v.x = train.x.index_select(0, idx);
      v.labels = train.y.index_select(0, idx);
      opt.zero_grad();
      ce.compute(*teacher_net, v, nullptr).loss.backward();
      opt.step();
    }
  }
  Teacher teacher(teacher_net.ptr());
  EXPECT_FALSE(teacher_net->is_training());
  for (const auto& p : teacher_net->parameters()) EXPECT_FALSE(p.requires_grad());
  const double teacher_acc =
      (teacher(test.x).argmax(1) == test.y).to(at::kDouble).mean().item<double>();
  EXPECT_GT(teacher_acc, 0.9);

  // Student: a narrower net of another shape, distilled with the full method, teacher only
  // (a = 0) so that agreement can only come from the teacher's targets.
  TinyNet student(tiny_spec(1, 8, kClasses), 2, 4);
  student->init(gen, 0.3);
  const double before = agreement(student, teacher, test.x);
  Objective obj{ObjectiveSpec::parse(
      "{a: 0, augmented: {distance: kl, temperature: 4}, perturbed: {distance: kl, temperature: 4}}")};
  torch::optim::Adam opt(student->parameters(), torch::optim::AdamOptions(0.02));
  const TeacherFn tfn = teacher.fn();
  for (int step = 0; step < 80; ++step) {
    const at::Tensor idx = at::randint(0, 256, {64}, gen, at::kLong);
    Objective::Views v;
    v.x = train.x.index_select(0, idx);
    v.labels = train.y.index_select(0, idx);
    v.x_aug = (v.x + (at::rand({64, 1, 1, 1}, gen) - 0.5) * 0.2).clamp(0, 1);  // brightness jitter
    v.x_pert = (v.x_aug + at::randn(v.x_aug.sizes(), gen) * 0.1).clamp(0, 1);
    opt.zero_grad();
    const auto r = obj.compute(*student, v, tfn);
    r.loss.backward();
    opt.step();
  }
  const double after = agreement(student, teacher, test.x);
  EXPECT_GT(after, before + 0.2) << "before " << before << " after " << after;
  EXPECT_GT(after, 0.8) << "before " << before;
  std::printf("teacher acc %.3f, agreement before %.3f after %.3f\n", teacher_acc, before, after);
}

}  // namespace
}  // namespace kdaug::distill
