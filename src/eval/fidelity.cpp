#include "kdaug/eval/fidelity.h"

#include <torch/torch.h>

#include "detail.h"
#include "kdaug/core/error.h"
#include "kdaug/eval/metrics.h"

namespace kdaug::eval {

FidelityReport fidelity_from_logits(const at::Tensor& teacher_logits, const at::Tensor& student_logits) {
  KDAUG_CHECK(teacher_logits.defined() && student_logits.defined() && teacher_logits.dim() == 2 &&
                  teacher_logits.sizes() == student_logits.sizes(),
              "fidelity: teacher and student logits must both be [N,K], got ",
              teacher_logits.defined() ? teacher_logits.sizes() : at::IntArrayRef{}, " and ",
              student_logits.defined() ? student_logits.sizes() : at::IntArrayRef{});
  FidelityReport r;
  r.n = teacher_logits.size(0);
  if (r.n == 0) return r;
  const auto t = teacher_logits.to(at::kCPU, at::kDouble);
  const auto s = student_logits.to(at::kCPU, at::kDouble);
  r.agreement = t.argmax(1).eq(s.argmax(1)).to(at::kDouble).mean().item<double>();
  const auto lt = at::log_softmax(t, 1), ls = at::log_softmax(s, 1);
  r.kl = (lt.exp() * (lt - ls)).sum(1).mean().item<double>();
  return r;
}

FidelityReport evaluate_fidelity(models::ClassifierImpl& teacher, models::ClassifierImpl& student,
                                 const data::Dataset& test, int64_t batch_size, int64_t limit, std::ostream* progress) {
  detail::check_batch_size(batch_size, "evaluate_fidelity");
  const int64_t n = detail::checked_count(test, limit, "evaluate_fidelity");
  const auto images = test.images.narrow(0, 0, n);
  const auto lt = predict_logits(teacher, images, batch_size, progress);
  const auto ls = predict_logits(student, images, batch_size, progress);
  KDAUG_CHECK(lt.size(1) == ls.size(1), "fidelity: teacher has ", lt.size(1), " classes but the student has ",
              ls.size(1));
  return fidelity_from_logits(lt, ls);
}

nlohmann::json to_json(const FidelityReport& r) { return {{"agreement", r.agreement}, {"kl", r.kl}, {"n", r.n}}; }

}  // namespace kdaug::eval
