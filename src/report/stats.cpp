#include "kdaug/report/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kdaug/core/error.h"

namespace kdaug::report {

double mean(const std::vector<double>& x) {
  KDAUG_CHECK(!x.empty(), "mean: expected a non-empty sample");
  // Shifted by the first value: a sample of equal values has exactly that mean (and so a
  // standard deviation of exactly 0), where a plain sum would round (0.4 * 3 / 3 != 0.4).
  const double x0 = x.front();
  double s = 0;
  for (double v : x) s += v - x0;
  return x0 + s / static_cast<double>(x.size());
}

double sample_std(const std::vector<double>& x) {
  KDAUG_CHECK(x.size() >= 2, "sample_std: expected at least 2 values, got ", x.size());
  const double m = mean(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

namespace {

// The continued fraction of I_x(a, b), converging fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 1000;  // converges in O(sqrt(max(a, b))) terms
  constexpr double kEps = 1e-15;
  constexpr double kTiny = 1e-300;  // keeps Lentz's denominators away from 0
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) return h;
  }
  KDAUG_FAIL("incomplete_beta: no convergence for a=", a, ", b=", b, ", x=", x);
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  KDAUG_CHECK(a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b),
              "incomplete_beta: a and b must be positive and finite, got a=", a, ", b=", b);
  KDAUG_CHECK(x >= 0 && x <= 1, "incomplete_beta: x must be in [0,1], got ", x);
  if (x == 0 || x == 1) return x;
  // x^a (1-x)^b / B(a, b), in logs so that large a, b do not overflow.
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  // Use the fraction where it converges quickly; the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) elsewhere.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  KDAUG_CHECK(df > 0 && !std::isnan(df), "student_t_cdf: degrees of freedom must be positive, got ", df);
  KDAUG_CHECK(!std::isnan(t), "student_t_cdf: t is NaN");
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  KDAUG_CHECK(p > 0 && p < 1, "student_t_quantile: p must be in (0,1), got ", p);
  KDAUG_CHECK(df > 0 && !std::isnan(df), "student_t_quantile: degrees of freedom must be positive, got ", df);
  if (p == 0.5) return 0;
  // The distribution is symmetric: solve in the upper half, where the CDF is monotone in t.
  const double q = p > 0.5 ? p : 1 - p;
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < q) {
    lo = hi;
    hi *= 2;
    KDAUG_CHECK(hi < 1e300, "student_t_quantile: no bracket for p=", p, ", df=", df);
  }
  for (int i = 0; i < 300 && hi - lo > 1e-13 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < q ? lo : hi) = mid;
  }
  const double t = 0.5 * (lo + hi);
  return p > 0.5 ? t : -t;
}

WelchTest welch_test(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  KDAUG_CHECK(a.size() >= 2 && b.size() >= 2, "welch_test: each sample needs at least 2 values, got ", a.size(),
              " and ", b.size());
  KDAUG_CHECK(confidence > 0 && confidence < 1, "welch_test: confidence must be in (0,1), got ", confidence);
  WelchTest w;
  w.n_a = static_cast<int64_t>(a.size());
  w.n_b = static_cast<int64_t>(b.size());
  w.confidence = confidence;
  w.diff = mean(a) - mean(b);
  const double sa = sample_std(a), sb = sample_std(b);
  const double va = sa * sa / static_cast<double>(w.n_a), vb = sb * sb / static_cast<double>(w.n_b);
  w.se = std::sqrt(va + vb);
  if (w.se == 0) {
    // Both samples constant: no spread to estimate, the difference is exact.
    w.df = static_cast<double>(w.n_a + w.n_b - 2);
    w.t = w.diff == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), w.diff);
    w.p = w.diff == 0 ? 1.0 : 0.0;
    w.ci_low = w.ci_high = w.diff;
    return w;
  }
  w.t = w.diff / w.se;
  w.df = (va + vb) * (va + vb) /
         (va * va / static_cast<double>(w.n_a - 1) + vb * vb / static_cast<double>(w.n_b - 1));
  const double tail = 0.5 * incomplete_beta(w.df / 2, 0.5, w.df / (w.df + w.t * w.t));
  w.p = std::min(1.0, 2 * tail);
  const double tq = student_t_quantile(0.5 + confidence / 2, w.df);
  w.ci_low = w.diff - tq * w.se;
  w.ci_high = w.diff + tq * w.se;
  return w;
}

}  // namespace kdaug::report
