// Inline SVG charts for the HTML report. Everything is computed here (scales, ticks, layout), so
// the page needs no JavaScript; coordinates are pixels with the origin at the top left.
#include "kdaug/report/html_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "kdaug/report/html.h"

namespace kdaug::report {

namespace {

// Series colours (Okabe-Ito, readable by colour-blind readers), reused cyclically.
const char* const kPalette[] = {"#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
// Font size of tick labels and legends, in pixels.
constexpr int kFont = 11;

const char* colour(size_t i) { return kPalette[i % kPaletteSize]; }

// A coordinate with one decimal: enough for pixels, short in the file.
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

// A tick or tooltip value: up to 4 significant digits, no trailing zeros.
std::string num(double v) {
  if (!std::isfinite(v)) return "-";
  if (std::fabs(v) < 1e-12) v = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // A degenerate range (one value) is widened so that it still has a scale.
  void widen() {
    if (empty()) {
      lo = 0;
      hi = 1;
    } else if (hi - lo < 1e-12) {
      const double d = std::fabs(lo) > 1e-12 ? std::fabs(lo) * 0.1 : 1.0;
      lo -= d;
      hi += d;
    }
  }
};

// "Nice" ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]; the range is
// extended to the outer ticks.
// `min_step`: no finer ticks than this (1 for epochs).
std::vector<double> nice_ticks(double& lo, double& hi, int target = 5, double min_step = 0) {
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (raw <= step) break;
  }
  step = std::max(step, min_step);
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> t;
  for (double v = lo; v <= hi + step * 1e-6; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

struct Frame {
  double left, top, width, height;  // the plot area
  double x0, x1, y0, y1;            // data range
  double sx(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double sy(double y) const { return top + height - (y - y0) / (y1 - y0) * height; }
};

std::string open_svg(int width, int height, const std::string& title) {
  std::ostringstream o;
  // No xmlns: inline SVG in HTML does not need it, and the page then names no URL at all.
  o << "<svg class=\"chart\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height << "\" role=\"img\" aria-label=\"" << html_escape(title)
    << "\" font-family=\"sans-serif\" font-size=\"" << kFont << "\">"
    << "<rect width=\"" << width << "\" height=\"" << height << "\" fill=\"#ffffff\"/>"
    << "<text x=\"" << width / 2 << "\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
    << html_escape(title) << "</text>";
  return o.str();
}

// Axes box, grid lines, tick labels and axis titles. `x_ticks` empty: no x tick labels (bar charts
// label their categories themselves).
std::string axes(const Frame& f, const std::vector<double>& x_ticks, const std::vector<double>& y_ticks,
                 const std::string& x_label, const std::string& y_label) {
  std::ostringstream o;
  for (double t : y_ticks) {
    const double y = f.sy(t);
    o << "<line x1=\"" << px(f.left) << "\" y1=\"" << px(y) << "\" x2=\"" << px(f.left + f.width) << "\" y2=\""
      << px(y) << "\" stroke=\"#e5e5e5\"/>"
      << "<text x=\"" << px(f.left - 5) << "\" y=\"" << px(y + 4) << "\" text-anchor=\"end\">" << num(t) << "</text>";
  }
  for (double t : x_ticks) {
    const double x = f.sx(t);
    o << "<line x1=\"" << px(x) << "\" y1=\"" << px(f.top) << "\" x2=\"" << px(x) << "\" y2=\""
      << px(f.top + f.height) << "\" stroke=\"#e5e5e5\"/>"
      << "<text x=\"" << px(x) << "\" y=\"" << px(f.top + f.height + 15) << "\" text-anchor=\"middle\">" << num(t)
      << "</text>";
  }
  o << "<rect x=\"" << px(f.left) << "\" y=\"" << px(f.top) << "\" width=\"" << px(f.width) << "\" height=\""
    << px(f.height) << "\" fill=\"none\" stroke=\"#555555\"/>";
  if (!x_label.empty()) {
    o << "<text x=\"" << px(f.left + f.width / 2) << "\" y=\"" << px(f.top + f.height + 32)
      << "\" text-anchor=\"middle\">" << html_escape(x_label) << "</text>";
  }
  if (!y_label.empty()) {
    const double cx = 14, cy = f.top + f.height / 2;
    o << "<text x=\"" << px(cx) << "\" y=\"" << px(cy) << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << px(cx)
      << " " << px(cy) << ")\">" << html_escape(y_label) << "</text>";
  }
  return o.str();
}

// One legend row under the title: a swatch and the name of each entry.
std::string legend(const std::vector<std::pair<std::string, std::string>>& entries, double x, double y) {
  std::ostringstream o;
  for (const auto& [name, fill] : entries) {
    o << "<rect x=\"" << px(x) << "\" y=\"" << px(y - 9) << "\" width=\"10\" height=\"10\" fill=\"" << fill << "\"/>"
      << "<text x=\"" << px(x + 14) << "\" y=\"" << px(y) << "\">" << html_escape(name) << "</text>";
    x += 24 + 6.5 * static_cast<double>(name.size());
  }
  return o.str();
}

std::string no_data(int width, int height) {
  return "<text x=\"" + std::to_string(width / 2) + "\" y=\"" + std::to_string(height / 2) +
         "\" text-anchor=\"middle\" fill=\"#777777\">no data</text>";
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                           const std::string& y_label, int width, int height) {
  width = std::max(width, 120);
  height = std::max(height, 100);
  std::string out = open_svg(width, height, title);
  Range rx, ry;
  bool integer_x = true;  // epochs: ticks at whole numbers only
  for (const auto& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        rx.add(s.x[i]);
        ry.add(s.y[i]);
        integer_x = integer_x && s.x[i] == std::round(s.x[i]);
      }
    }
  }
  if (rx.empty()) return out + no_data(width, height) + "</svg>";
  rx.widen();
  ry.widen();
  const bool with_legend = series.size() > 1;
  Frame f{58, with_legend ? 44.0 : 28.0, 0, 0, rx.lo, rx.hi, ry.lo, ry.hi};
  f.width = width - f.left - 16;
  f.height = height - f.top - 42;
  const auto xt = nice_ticks(f.x0, f.x1, std::max(2, width / 90), integer_x ? 1.0 : 0.0);
  const auto yt = nice_ticks(f.y0, f.y1, std::max(2, height / 60));
  out += axes(f, xt, yt, x_label, y_label);
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::ostringstream path, marks;
    bool pen_down = false;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen_down = false;  // the line breaks at a missing value
        continue;
      }
      const double x = f.sx(s.x[i]), y = f.sy(s.y[i]);
      path << (pen_down ? " L" : " M") << px(x) << " " << px(y);
      pen_down = true;
      marks << "<circle cx=\"" << px(x) << "\" cy=\"" << px(y) << "\" r=\"2.5\" fill=\"" << colour(k) << "\"><title>"
            << html_escape(s.name) << ": " << num(s.x[i]) << ", " << num(s.y[i]) << "</title></circle>";
    }
    const auto d = path.str();
    if (!d.empty()) {
      out += "<path d=\"" + d.substr(1) + "\" fill=\"none\" stroke=\"" + colour(k) + "\" stroke-width=\"1.8\"/>";
    }
    out += marks.str();
    entries.emplace_back(s.name, colour(k));
  }
  if (with_legend) out += legend(entries, f.left, 34);
  return out + "</svg>";
}

std::string svg_bar_chart(const std::string& title, const std::vector<std::string>& categories,
                          const std::vector<Series>& series, const std::string& y_label, int width, int height) {
  width = std::max(width, 120);
  height = std::max(height, 100);
  std::string out = open_svg(width, height, title);
  Range ry;
  for (const auto& s : series) {
    for (size_t i = 0; i < std::min(s.y.size(), categories.size()); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      const double e = i < s.err.size() && std::isfinite(s.err[i]) ? std::fabs(s.err[i]) : 0.0;
      ry.add(s.y[i] - e);
      ry.add(s.y[i] + e);
    }
  }
  if (ry.empty() || categories.empty()) return out + no_data(width, height) + "</svg>";
  ry.add(0);  // bars start at zero
  ry.widen();
  // Long or many category names are written at an angle, which needs more room below.
  size_t longest = 0;
  for (const auto& c : categories) longest = std::max(longest, c.size());
  const bool with_legend = series.size() > 1;
  Frame f{58, with_legend ? 44.0 : 28.0, 0, 0, 0, 1, ry.lo, ry.hi};
  f.width = width - f.left - 16;
  const double band = f.width / static_cast<double>(categories.size());
  const bool slanted = static_cast<double>(longest) * 6.5 > band - 4;
  const double below = slanted ? std::min(24.0 + 5.0 * static_cast<double>(longest), height * 0.45) : 30.0;
  f.height = height - f.top - below;
  const auto yt = nice_ticks(f.y0, f.y1, std::max(2, height / 60));
  out += axes(f, {}, yt, "", y_label);
  if (f.y0 < 0 && f.y1 > 0) {
    out += "<line x1=\"" + px(f.left) + "\" y1=\"" + px(f.sy(0)) + "\" x2=\"" + px(f.left + f.width) + "\" y2=\"" +
           px(f.sy(0)) + "\" stroke=\"#555555\"/>";
  }
  const size_t ns = std::max<size_t>(series.size(), 1);
  const double bar = band * 0.8 / static_cast<double>(ns);
  std::ostringstream o;
  for (size_t c = 0; c < categories.size(); ++c) {
    const double bx = f.left + band * static_cast<double>(c);
    for (size_t k = 0; k < series.size(); ++k) {
      const auto& s = series[k];
      if (c >= s.y.size() || !std::isfinite(s.y[c])) continue;  // a missing value has no bar
      const double x = bx + band * 0.1 + bar * static_cast<double>(k);
      const double y_top = f.sy(std::max(s.y[c], 0.0)), y_bottom = f.sy(std::min(s.y[c], 0.0));
      o << "<rect x=\"" << px(x) << "\" y=\"" << px(y_top) << "\" width=\"" << px(std::max(bar - 1, 1.0))
        << "\" height=\"" << px(std::max(y_bottom - y_top, 0.5)) << "\" fill=\"" << colour(k) << "\"><title>"
        << html_escape(s.name.empty() ? categories[c] : s.name + ", " + categories[c]) << ": " << num(s.y[c]);
      const bool has_err = c < s.err.size() && std::isfinite(s.err[c]) && s.err[c] != 0;
      if (has_err) o << " &#177; " << num(std::fabs(s.err[c]));
      o << "</title></rect>";
      if (has_err) {
        const double cx = x + bar / 2, e = std::fabs(s.err[c]);
        const double y1 = f.sy(s.y[c] + e), y2 = f.sy(s.y[c] - e), cap = std::min(bar / 4, 5.0);
        o << "<path d=\"M" << px(cx) << " " << px(y1) << " L" << px(cx) << " " << px(y2) << " M" << px(cx - cap) << " "
          << px(y1) << " L" << px(cx + cap) << " " << px(y1) << " M" << px(cx - cap) << " " << px(y2) << " L"
          << px(cx + cap) << " " << px(y2) << "\" stroke=\"#222222\" fill=\"none\"/>";
      }
    }
    const double cx = bx + band / 2, ty = f.top + f.height + 14;
    if (slanted) {
      o << "<text x=\"" << px(cx) << "\" y=\"" << px(ty) << "\" text-anchor=\"end\" transform=\"rotate(-35 " << px(cx)
        << " " << px(ty) << ")\">" << html_escape(categories[c]) << "</text>";
    } else {
      o << "<text x=\"" << px(cx) << "\" y=\"" << px(ty) << "\" text-anchor=\"middle\">" << html_escape(categories[c])
        << "</text>";
    }
  }
  out += o.str();
  if (with_legend) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (size_t k = 0; k < series.size(); ++k) entries.emplace_back(series[k].name, colour(k));
    out += legend(entries, f.left, 34);
  }
  return out + "</svg>";
}

std::string svg_reliability(const std::string& title, const std::vector<ReliabilityBinView>& bins, int size) {
  size = std::max(size, 140);
  const int width = size, height = size + 20;
  std::string out = open_svg(width, height, title);
  Frame f{50, 44, 0, 0, 0, 1, 0, 1};
  f.width = width - f.left - 14;
  f.height = height - f.top - 42;
  const std::vector<double> ticks{0, 0.2, 0.4, 0.6, 0.8, 1.0};
  out += axes(f, ticks, ticks, "confidence", "accuracy");
  std::ostringstream o;
  for (const auto& b : bins) {
    if (b.count <= 0 || !std::isfinite(b.accuracy) || !std::isfinite(b.lower) || !std::isfinite(b.upper)) continue;
    const double lo = std::clamp(b.lower, 0.0, 1.0), hi = std::clamp(b.upper, 0.0, 1.0);
    const double acc = std::clamp(b.accuracy, 0.0, 1.0);
    const double x = f.sx(lo), w = std::max(f.sx(hi) - x - 1, 1.0), y = f.sy(acc);
    o << "<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(w) << "\" height=\""
      << px(f.top + f.height - y) << "\" fill=\"" << colour(0) << "\" fill-opacity=\"0.8\"><title>confidence "
      << num(b.lower) << "-" << num(b.upper) << ": accuracy " << num(b.accuracy) << ", mean confidence "
      << num(b.confidence) << ", " << b.count << " images</title></rect>";
    if (std::isfinite(b.confidence)) {
      // The bin's mean confidence at the bin's centre: the gap to the bar's top is the miscalibration.
      const double cx = f.sx((lo + hi) / 2), cy = f.sy(std::clamp(b.confidence, 0.0, 1.0));
      o << "<path d=\"M" << px(cx - 4) << " " << px(cy) << " L" << px(cx) << " " << px(cy - 4) << " L" << px(cx + 4)
        << " " << px(cy) << " L" << px(cx) << " " << px(cy + 4) << " Z\" fill=\"" << colour(3) << "\"/>";
    }
  }
  o << "<line x1=\"" << px(f.sx(0)) << "\" y1=\"" << px(f.sy(0)) << "\" x2=\"" << px(f.sx(1)) << "\" y2=\""
    << px(f.sy(1)) << "\" stroke=\"#555555\" stroke-dasharray=\"4 3\"/>";
  out += o.str();
  out += legend({{"accuracy", colour(0)}, {"mean confidence", colour(3)}}, f.left - 30, 34);
  return out + "</svg>";
}

std::string svg_heatmap(const std::string& title, const std::vector<std::vector<double>>& m,
                        const std::vector<std::string>& labels, int cell) {
  cell = std::max(cell, 12);
  const size_t n = m.size();
  size_t cols = 0;
  for (const auto& row : m) cols = std::max(cols, row.size());
  auto label = [&](size_t i) { return i < labels.size() ? labels[i] : std::to_string(i); };
  size_t longest = 1;
  for (size_t i = 0; i < std::max(n, cols); ++i) longest = std::max(longest, label(i).size());
  const double lab = std::min(12.0 + 6.5 * static_cast<double>(longest), 160.0);  // room for class names
  const double left = 22 + lab, top = 40;
  const int width = static_cast<int>(left + cell * static_cast<double>(cols) + 16);
  const int height = static_cast<int>(top + cell * static_cast<double>(n) + lab + 24);
  std::string out = open_svg(std::max(width, 160), std::max(height, 80), title);
  if (n == 0 || cols == 0) return out + no_data(std::max(width, 160), std::max(height, 80)) + "</svg>";
  std::ostringstream o;
  const int font = std::min(kFont, cell / 3 + 2);
  for (size_t r = 0; r < n; ++r) {
    double total = 0;
    for (double v : m[r])
      if (std::isfinite(v)) total += v;
    for (size_t c = 0; c < cols; ++c) {
      const double v = c < m[r].size() ? m[r][c] : std::numeric_limits<double>::quiet_NaN();
      const double x = left + cell * static_cast<double>(c), y = top + cell * static_cast<double>(r);
      const double frac = std::isfinite(v) && total > 0 ? std::clamp(v / total, 0.0, 1.0) : 0.0;
      o << "<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << cell << "\" height=\"" << cell << "\" fill=\""
        << (std::isfinite(v) ? colour(0) : "#dddddd") << "\" fill-opacity=\""
        << px(std::isfinite(v) ? 0.04 + 0.96 * frac : 1.0) << "\" stroke=\"#ffffff\"><title>true "
        << html_escape(label(r)) << ", predicted " << html_escape(label(c)) << ": " << num(v) << " ("
        << num(100 * frac) << "% of the row)</title></rect>";
      if (std::isfinite(v)) {
        o << "<text x=\"" << px(x + cell / 2.0) << "\" y=\"" << px(y + cell / 2.0 + font / 3.0)
          << "\" text-anchor=\"middle\" font-size=\"" << font << "\" fill=\"" << (frac > 0.5 ? "#ffffff" : "#222222")
          << "\">" << num(v) << "</text>";
      }
    }
    o << "<text x=\"" << px(left - 4) << "\" y=\"" << px(top + cell * (r + 0.5) + 4) << "\" text-anchor=\"end\">"
      << html_escape(label(r)) << "</text>";
  }
  for (size_t c = 0; c < cols; ++c) {
    const double cx = left + cell * (c + 0.5), cy = top + cell * static_cast<double>(n) + 6;
    o << "<text x=\"" << px(cx) << "\" y=\"" << px(cy) << "\" text-anchor=\"end\" transform=\"rotate(-60 " << px(cx)
      << " " << px(cy) << ")\">" << html_escape(label(c)) << "</text>";
  }
  const double mid_y = top + cell * n / 2.0;
  o << "<text x=\"12\" y=\"" << px(mid_y) << "\" text-anchor=\"middle\" transform=\"rotate(-90 12 " << px(mid_y)
    << ")\">true class</text>"
    << "<text x=\"" << px(left + cell * cols / 2.0) << "\" y=\"" << height - 6
    << "\" text-anchor=\"middle\">predicted class</text>";
  return out + o.str() + "</svg>";
}

}  // namespace kdaug::report
