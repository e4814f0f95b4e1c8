// Inline SVG charts for the HTML report: plain strings, no JavaScript, fixed sizes in pixels.
// Non-finite values are skipped (lines break, bars are left out), and every chart draws its
// axes with tick labels, a title and a legend when there is more than one series.
#pragma once

#include <string>
#include <vector>

namespace kdaug::report {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length (bar charts ignore x: one y per category)
  std::vector<double> err;   // optional half-width of an error bar per point (bar charts)
};

// Lines (with point markers) of y against x.
std::string svg_line_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                           const std::string& y_label, int width = 520, int height = 300);

// Grouped vertical bars: one group per category, one bar per series. y_min/y_max: the value axis
// (both NaN: from the data, including 0).
std::string svg_bar_chart(const std::string& title, const std::vector<std::string>& categories,
                          const std::vector<Series>& series, const std::string& y_label, int width = 720,
                          int height = 320);

struct ReliabilityBinView {
  double lower = 0, upper = 0, confidence = 0, accuracy = 0;
  long long count = 0;
};
// Reliability diagram: accuracy per confidence bin as bars (empty bins left out), the bin's mean
// confidence as a marker, and the diagonal of perfect calibration.
std::string svg_reliability(const std::string& title, const std::vector<ReliabilityBinView>& bins, int size = 300);

// Confusion matrix heatmap: rows are true classes, columns predicted; each cell shows its count,
// shaded by the fraction of its row.
std::string svg_heatmap(const std::string& title, const std::vector<std::vector<double>>& m,
                        const std::vector<std::string>& labels, int cell = 30);

}  // namespace kdaug::report
