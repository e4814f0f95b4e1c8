// Statistics for ablations: every value is checked against a closed form or a number computed
// independently (by hand, and with mpmath's betainc at 30 digits: see the comments).
#include <gtest/gtest.h>

#include <cmath>

#include "kdaug/core/error.h"
#include "kdaug/report/stats.h"

using namespace kdaug::report;

TEST(Stats, MeanAndSampleStd) {
  EXPECT_DOUBLE_EQ(mean({1, 2, 3, 4, 5}), 3.0);
  // sum of squares 10, / (n - 1) = 2.5
  EXPECT_NEAR(sample_std({1, 2, 3, 4, 5}), std::sqrt(2.5), 1e-15);
  EXPECT_NEAR(sample_std({2, 4, 6, 8, 10, 12}), std::sqrt(14.0), 1e-14);
  EXPECT_DOUBLE_EQ(sample_std({0.7, 0.7}), 0.0);
  EXPECT_THROW(mean({}), kdaug::Error);
  EXPECT_THROW(sample_std({1.0}), kdaug::Error);
}

TEST(Stats, IncompleteBetaClosedForms) {
  for (double x : {0.0, 0.1, 0.37, 0.5, 0.9, 1.0}) {
    EXPECT_NEAR(incomplete_beta(1, 1, x), x, 1e-14) << x;                            // uniform
    EXPECT_NEAR(incomplete_beta(3, 1, x), x * x * x, 1e-14) << x;                    // I_x(a,1) = x^a
    EXPECT_NEAR(incomplete_beta(1, 2.5, x), 1 - std::pow(1 - x, 2.5), 1e-14) << x;   // I_x(1,b) = 1-(1-x)^b
    EXPECT_NEAR(incomplete_beta(0.5, 0.5, x), 2 / M_PI * std::asin(std::sqrt(x)), 1e-13) << x;  // arcsine
  }
  // Binomial tail: I_0.6(5,3) = P(Bin(7, 0.6) >= 5) = 21*.6^5*.4^2 + 7*.6^6*.4 + .6^7 = 0.419904.
  EXPECT_NEAR(incomplete_beta(5, 3, 0.6), 0.419904, 1e-13);
  // mpmath.betainc(2.5, 0.5, 0, 0.3, regularized=True), and a large-parameter case.
  EXPECT_NEAR(incomplete_beta(2.5, 0.5, 0.3), 0.0189271240719456516, 1e-13);
  EXPECT_NEAR(incomplete_beta(50, 40, 0.55), 0.454795210863869406, 1e-12);
  // Symmetry I_x(a,b) = 1 - I_{1-x}(b,a) holds across the switch between the two fraction branches.
  for (double x : {0.05, 0.3, 0.62, 0.95})
    EXPECT_NEAR(incomplete_beta(4.2, 1.7, x), 1 - incomplete_beta(1.7, 4.2, 1 - x), 1e-13) << x;
  EXPECT_THROW(incomplete_beta(0, 1, 0.5), kdaug::Error);
  EXPECT_THROW(incomplete_beta(1, 1, 1.5), kdaug::Error);
}

TEST(Stats, StudentTCdf) {
  // df = 1 is Cauchy: F(t) = 1/2 + atan(t)/pi. df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
  for (double t : {-30.0, -3.0, -1.0, 0.0, 0.4, 1.0, 7.0}) {
    EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-14) << t;
    EXPECT_NEAR(student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-14) << t;
  }
  // mpmath, non-integer df included.
  EXPECT_NEAR(student_t_cdf(1.5, 3), 0.884708067377588474, 1e-13);
  EXPECT_NEAR(student_t_cdf(-2.0, 7.5), 0.0414484976490831563, 1e-13);
  EXPECT_NEAR(student_t_cdf(0.3, 30), 0.616876947357823591, 1e-13);
  EXPECT_NEAR(student_t_cdf(4.0, 2.2), 0.975634686636118012, 1e-13);
  // Large df approaches the normal: Phi(1.959963985) = 0.975.
  EXPECT_NEAR(student_t_cdf(1.959963984540054, 1e7), 0.975, 1e-7);
  EXPECT_EQ(student_t_cdf(INFINITY, 3), 1.0);
  EXPECT_THROW(student_t_cdf(1, 0), kdaug::Error);
}

TEST(Stats, StudentTQuantile) {
  // The familiar table values t_{0.975, df}, and mpmath for the rest.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062047361746933, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.30265272974946179, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.22813885198627422, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.975, 1000), 1.96233908082640810, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.975, 6.9722), 2.36653689707822522, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.77644510519779430, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.995, 3.3), 5.34430606972107816, 1e-9);
  EXPECT_EQ(student_t_quantile(0.5, 5), 0.0);
  // Cauchy quantile tan(pi (p - 1/2)), and the round trip through the CDF.
  EXPECT_NEAR(student_t_quantile(0.9, 1), std::tan(M_PI * 0.4), 1e-10);
  for (double p : {0.001, 0.2, 0.7, 0.999}) EXPECT_NEAR(student_t_cdf(student_t_quantile(p, 4.5), 4.5), p, 1e-12);
  EXPECT_THROW(student_t_quantile(1.0, 3), kdaug::Error);
  EXPECT_THROW(student_t_quantile(0.5, -1), kdaug::Error);
}

TEST(Stats, WelchByHand) {
  // a = 1..5: mean 3, s^2 = 2.5; b = 2,4,..,12: mean 7, s^2 = 14.
  // se^2 = 2.5/5 + 14/6 = 17/6; t = -4 / sqrt(17/6) = -2.37635410;
  // df = (17/6)^2 / ((1/2)^2/4 + (7/3)^2/5) = 6.97225573; p and t_{0.975, df} from mpmath.
  const auto w = welch_test({1, 2, 3, 4, 5}, {2, 4, 6, 8, 10, 12});
  EXPECT_EQ(w.n_a, 5);
  EXPECT_EQ(w.n_b, 6);
  EXPECT_DOUBLE_EQ(w.diff, -4.0);
  EXPECT_NEAR(w.se, std::sqrt(17.0 / 6), 1e-14);
  EXPECT_NEAR(w.t, -2.37635410314401834, 1e-12);
  EXPECT_NEAR(w.df, 6.97225572979493366, 1e-12);
  EXPECT_NEAR(w.p, 0.0492843382067305208, 1e-11);
  EXPECT_NEAR(w.ci_low, -7.98346869562883112, 1e-9);
  EXPECT_NEAR(w.ci_high, -0.0165313043711688757, 1e-9);
  // Swapping the samples flips the sign of everything but p and df.
  const auto s = welch_test({2, 4, 6, 8, 10, 12}, {1, 2, 3, 4, 5});
  EXPECT_NEAR(s.t, -w.t, 1e-14);
  EXPECT_NEAR(s.p, w.p, 1e-14);
  EXPECT_NEAR(s.ci_low, -w.ci_high, 1e-12);
}

TEST(Stats, WelchOnAccuracies) {
  // Three seeds per arm, as in an ablation table (mpmath at 30 digits).
  const auto w = welch_test({0.912, 0.905, 0.918}, {0.897, 0.893, 0.901});
  EXPECT_NEAR(w.diff, 0.0146666666666666667, 1e-15);
  EXPECT_NEAR(w.t, 3.32608736248119960, 1e-10);
  EXPECT_NEAR(w.df, 3.32284489773775294, 1e-10);
  EXPECT_NEAR(w.p, 0.0385615526568039603, 1e-10);
  EXPECT_NEAR(w.ci_low, 0.00137407284724660893, 1e-10);
  EXPECT_NEAR(w.ci_high, 0.0279592604860867244, 1e-10);
  // A 99% interval is wider and contains the 95% one.
  const auto w99 = welch_test({0.912, 0.905, 0.918}, {0.897, 0.893, 0.901}, 0.99);
  EXPECT_LT(w99.ci_low, w.ci_low);
  EXPECT_GT(w99.ci_high, w.ci_high);
  EXPECT_DOUBLE_EQ(w99.p, w.p);
}

TEST(Stats, WelchDegenerateAndBadInput) {
  auto w = welch_test({0.5, 0.5, 0.5}, {0.5, 0.5});
  EXPECT_EQ(w.t, 0.0);
  EXPECT_EQ(w.p, 1.0);
  EXPECT_EQ(w.df, 3.0);
  w = welch_test({0.6, 0.6}, {0.5, 0.5});
  EXPECT_TRUE(std::isinf(w.t) && w.t > 0);
  EXPECT_EQ(w.p, 0.0);
  EXPECT_NEAR(w.ci_low, 0.1, 1e-15);
  EXPECT_NEAR(w.ci_high, 0.1, 1e-15);
  EXPECT_THROW(welch_test({1.0}, {1.0, 2.0}), kdaug::Error);
  EXPECT_THROW(welch_test({1.0, 2.0}, {1.0, 2.0}, 1.0), kdaug::Error);
}
