// Small-sample statistics for comparing ablation arms: mean, sample standard deviation, the
// Student t distribution (CDF through the regularised incomplete beta function, quantile by
// bisection) and Welch's unequal-variance t-test with a confidence interval for the difference
// of means. Plain doubles in, plain doubles out; no global state.
#pragma once

#include <cstdint>
#include <vector>

namespace kdaug::report {

// Arithmetic mean. Requires a non-empty sample.
double mean(const std::vector<double>& x);

// Sample standard deviation (divisor n - 1). Requires n >= 2.
double sample_std(const std::vector<double>& x);

// Regularised incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1]
// (continued fraction, Numerical Recipes' betacf with the modified Lentz method).
double incomplete_beta(double a, double b, double x);

// P(T <= t) for Student's t with `df` > 0 degrees of freedom (df need not be an integer).
double student_t_cdf(double t, double df);

// The t with P(T <= t) = p, for p in (0, 1) and df > 0 (bisection to ~1e-12 relative precision).
double student_t_quantile(double p, double df);

// Welch's t-test of mean(a) - mean(b), each sample with n >= 2.
struct WelchTest {
  int64_t n_a = 0, n_b = 0;
  double diff = 0;     // mean(a) - mean(b)
  double se = 0;       // sqrt(s_a^2 / n_a + s_b^2 / n_b)
  double t = 0;        // diff / se (0 when diff == se == 0, +-inf when only se == 0)
  double df = 0;       // Welch–Satterthwaite degrees of freedom (n_a + n_b - 2 when se == 0)
  double p = 1;        // two-sided p-value, P(|T| >= |t|)
  double ci_low = 0;   // confidence interval of diff: diff -+ t_{(1+confidence)/2, df} * se
  double ci_high = 0;
  double confidence = 0.95;
};
WelchTest welch_test(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);

}  // namespace kdaug::report
