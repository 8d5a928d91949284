// Line charts as a PNG file, drawn by PLplot (Debian: libplplot-dev to build; its pngcairo device,
// plplot-driver-cairo, at run time): charts side by side, each with a title, labelled axes,
// numbered ticks, a grid and a legend. The examples' CMake defines BYOL_EXAMPLES_PLOT when it
// found PLplot; without it (configured with -DBYOL_EXAMPLES_PLOT=OFF) no PNG can be drawn and
// plot_unavailable() says so.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>

#ifdef BYOL_EXAMPLES_PLOT
#include <plplot/plplot.h>
#include <plplot/plstream.h>

#include <filesystem>
#include <fstream>
#include <system_error>
#endif

namespace byol_examples {

/// One curve: points (x[i], y[i]); a non-finite y leaves a gap. `markers` draws a dot at each
/// point (for sparse series, such as one value per epoch).
struct Series {
  std::string name;
  std::vector<double> x, y;
  std::array<int, 3> rgb;
  bool markers = false;
};

/// One chart: its title, axis labels, curves, and where the legend goes (top right by default,
/// bottom right for curves that rise).
struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool legend_bottom = false;
};

/// Why this program cannot draw a PNG, or "" when it can.
inline std::string plot_unavailable() {
#ifdef BYOL_EXAMPLES_PLOT
  // PLplot loads its devices at run time: without plplot-driver-cairo, pngcairo is not there (and
  // asking plinit for it would prompt on stdin for another device).
  static const std::string why = [] {
    std::vector<const char*> menu(256), names(256);
    const char** menu_ptr = menu.data();
    const char** names_ptr = names.data();
    int count = static_cast<int>(names.size());
    plgDevs(&menu_ptr, &names_ptr, &count);
    for (int i = 0; i < count; ++i) {
      if (std::string(names[static_cast<size_t>(i)]) == "pngcairo") return std::string();
    }
    return std::string("PLplot's pngcairo device is not installed (Debian: plplot-driver-cairo)");
  }();
  return why;
#else
  return "built without PLplot (configured with -DBYOL_EXAMPLES_PLOT=OFF)";
#endif
}

#ifdef BYOL_EXAMPLES_PLOT
namespace plot_detail {

// A "nice" axis range around [lo, hi]: a little padding, and a unit range when all values agree.
inline std::pair<double, double> padded(double lo, double hi) {
  if (!(lo <= hi)) return {0.0, 1.0};
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) return {lo - 0.5, hi + 0.5};
  const double pad = 0.05 * (hi - lo);
  return {lo - pad, hi + pad};
}

}  // namespace plot_detail
#endif

/// Draws `charts` side by side, each `width` x `height` pixels, into the PNG `path` (written to
/// path.tmp, then renamed, so a reader never sees half a file). Throws c10::Error when the PNG
/// cannot be written or plot_unavailable() is not empty.
///
///     Chart loss{"BYOL loss", "epoch", "loss", {{"loss", epochs, losses, {31, 119, 180}}}};
///     plot_png("run/plot.png", {loss});
inline void plot_png(const std::string& path, const std::vector<Chart>& charts, int width = 640, int height = 440) {
#ifdef BYOL_EXAMPLES_PLOT
  const std::string why = plot_unavailable();
  TORCH_CHECK(why.empty(), "cannot draw ", path, ": ", why);
  const std::string tmp = path + ".tmp";
  // PLplot asks on stdin for another name when it cannot open the file: find out first.
  TORCH_CHECK(std::ofstream(tmp).good(), "cannot write ", tmp);
  {
    plstream pls;
    pls.sdev("pngcairo");
    pls.sfnam(tmp.c_str());
    pls.spage(0, 0, width * static_cast<int>(charts.size()), height, 0, 0);
    pls.scolbg(255, 255, 255);
    pls.scol0(1, 40, 40, 40);     // axes, labels, text
    pls.scol0(2, 225, 225, 225);  // grid
    pls.ssub(static_cast<int>(charts.size()), 1);
    pls.init();
    for (const auto& chart : charts) {
      double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
      for (const auto& s : chart.series) {
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
          if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
          x_lo = std::min(x_lo, s.x[i]);
          x_hi = std::max(x_hi, s.x[i]);
          y_lo = std::min(y_lo, s.y[i]);
          y_hi = std::max(y_hi, s.y[i]);
        }
      }
      if (!(x_lo < x_hi)) {
        std::tie(x_lo, x_hi) = plot_detail::padded(x_lo, x_hi);
      } else if (std::any_of(chart.series.begin(), chart.series.end(), [](const Series& s) { return s.markers; })) {
        std::tie(x_lo, x_hi) = plot_detail::padded(x_lo, x_hi);  // room for the first and last dots
      }
      std::tie(y_lo, y_hi) = plot_detail::padded(y_lo, y_hi);
      pls.adv(0);
      pls.schr(0, 0.8);
      pls.vpor(0.12, 0.95, 0.15, 0.88);
      pls.wind(x_lo, x_hi, y_lo, y_hi);
      pls.col0(2);
      pls.width(1);
      pls.box("g", 0, 0, "g", 0, 0);
      pls.col0(1);
      pls.box("bcnst", 0, 0, "bcnstv", 0, 0);
      pls.lab(chart.x_label.c_str(), chart.y_label.c_str(), chart.title.c_str());

      std::vector<PLINT> options, colours, styles;
      std::vector<PLFLT> widths, scales;
      std::vector<PLINT> numbers;
      std::vector<const char*> names, symbols;
      for (size_t k = 0; k < chart.series.size(); ++k) {
        const auto& s = chart.series[k];
        const PLINT colour = static_cast<PLINT>(3 + k);
        pls.scol0(colour, s.rgb[0], s.rgb[1], s.rgb[2]);
        pls.col0(colour);
        pls.width(2);
        // Runs of finite points as polylines.
        std::vector<PLFLT> xs, ys;
        auto flush = [&] {
          if (xs.size() > 1) pls.line(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
          if (xs.size() == 1 && !s.markers) pls.string(1, xs.data(), ys.data(), "•");  // a lone point
          xs.clear();
          ys.clear();
        };
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
          if (!std::isfinite(s.y[i])) {
            flush();
            continue;
          }
          xs.push_back(s.x[i]);
          ys.push_back(s.y[i]);
          if (s.markers) pls.string(1, &xs.back(), &ys.back(), "•");
        }
        flush();
        const bool drawn = std::any_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); });
        if (!drawn) continue;  // no entry in the legend for a curve without points (yet)
        options.push_back(s.markers ? PL_LEGEND_LINE | PL_LEGEND_SYMBOL : PL_LEGEND_LINE);
        colours.push_back(colour);
        styles.push_back(1);
        widths.push_back(2);
        scales.push_back(1);
        numbers.push_back(1);
        names.push_back(s.name.c_str());
        symbols.push_back("•");
      }
      if (!names.empty()) {
        PLFLT legend_width = 0, legend_height = 0;
        const std::vector<PLINT> text_colours(names.size(), 1);
        pls.legend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                   PL_POSITION_INSIDE | PL_POSITION_RIGHT | (chart.legend_bottom ? PL_POSITION_BOTTOM : PL_POSITION_TOP),
                   0.02, 0.03, 0.08, 0, 2, 1, 0, 0, static_cast<PLINT>(names.size()), options.data(), 1.0,
                   0.8, 2.0, 0.0, text_colours.data(), names.data(), nullptr, nullptr, nullptr, nullptr,
                   colours.data(), styles.data(), widths.data(), colours.data(), scales.data(), numbers.data(),
                   symbols.data());
      }
    }
  }  // the stream's destructor finishes the page and writes the file
  std::error_code ec;
  const auto size = std::filesystem::file_size(tmp, ec);
  TORCH_CHECK(!ec && size > 0, "cannot write ", tmp, ec ? ": " + ec.message() : std::string(" (disk full?)"));
  std::filesystem::rename(tmp, path, ec);
  TORCH_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
#else
  (void)charts, (void)width, (void)height;
  TORCH_CHECK(false, "cannot draw ", path, ": ", plot_unavailable());
#endif
}

}  // namespace byol_examples
