// Finite-difference gradient check for the distill losses (double precision).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

namespace kdaug::distill::testing {

// Compares autograd's gradient of the scalar f(x) with central differences, element by element.
inline void expect_gradient_matches(const std::function<at::Tensor(const at::Tensor&)>& f,
                                    const at::Tensor& x0, double eps = 1e-6, double tol = 1e-6) {
  ASSERT_EQ(x0.scalar_type(), at::kDouble);
  at::Tensor x = x0.detach().clone().set_requires_grad(true);
  at::Tensor analytic = torch::autograd::grad({f(x)}, {x})[0];
  at::Tensor flat = x0.detach().clone().contiguous();
  auto* data = flat.data_ptr<double>();
  at::Tensor analytic_flat = analytic.contiguous();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double keep = data[i];
    data[i] = keep + eps;
    const double up = f(flat).item<double>();
    data[i] = keep - eps;
    const double down = f(flat).item<double>();
    data[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    const double got = analytic_flat.view(-1)[i].item<double>();
    EXPECT_NEAR(got, numeric, tol * std::max(1.0, std::abs(numeric))) << "element " << i;
  }
}

}  // namespace kdaug::distill::testing
