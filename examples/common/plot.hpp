// Line charts rendered into an RGB image (uint8 [3, H, W]) with a built-in 5x7 pixel font, so
// the examples can write training curves as PNG files without a plotting library.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace byol_examples {

using Rgb = std::array<uint8_t, 3>;

struct Series {
  std::string name;
  std::vector<double> x, y;
  Rgb color;
};

namespace plot_detail {

// 5x7 glyphs, one string per row, '#' = ink. Lower-case letters print as upper-case.
inline const std::map<char, std::array<const char*, 7>>& font() {
  static const std::map<char, std::array<const char*, 7>> glyphs = {
      {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
      {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
      {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
      {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
      {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
      {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
      {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
      {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
      {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
      {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
      {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
      {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
      {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
      {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
      {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
      {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
      {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
      {'=', {"     ", "     ", "#####", "     ", "#####", "     ", "     "}},
      {'A', {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
      {'B', {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "}},
      {'C', {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "}},
      {'D', {"#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "}},
      {'E', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"}},
      {'F', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "}},
      {'G', {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"}},
      {'H', {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
      {'I', {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
      {'J', {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "}},
      {'K', {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"}},
      {'L', {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"}},
      {'M', {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"}},
      {'N', {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"}},
      {'O', {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
      {'P', {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "}},
      {'Q', {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"}},
      {'R', {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"}},
      {'S', {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "}},
      {'T', {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "}},
      {'U', {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
      {'V', {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "}},
      {'W', {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "}},
      {'X', {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"}},
      {'Y', {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "}},
      {'Z', {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"}},
  };
  return glyphs;
}

class Canvas {
 public:
  Canvas(int64_t width, int64_t height) : w_(width), h_(height), pixels_(static_cast<size_t>(3 * width * height), 255) {}

  void set(int64_t x, int64_t y, const Rgb& c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    for (int k = 0; k < 3; ++k) pixels_[static_cast<size_t>((k * h_ + y) * w_ + x)] = c[static_cast<size_t>(k)];
  }

  void line(double x0, double y0, double x1, double y1, const Rgb& c, int thickness = 1) {
    const int64_t steps = static_cast<int64_t>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int64_t i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(steps);
      const int64_t x = std::lround(x0 + t * (x1 - x0)), y = std::lround(y0 + t * (y1 - y0));
      for (int dx = 0; dx < thickness; ++dx)
        for (int dy = 0; dy < thickness; ++dy) set(x + dx, y + dy, c);
    }
  }

  void text(int64_t x, int64_t y, const std::string& s, const Rgb& c, int scale = 1) {
    for (const char raw : s) {
      const char ch = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
      const auto it = font().find(ch);
      if (it != font().end()) {
        for (int row = 0; row < 7; ++row)
          for (int col = 0; col < 5; ++col)
            if (it->second[static_cast<size_t>(row)][col] == '#')
              for (int a = 0; a < scale; ++a)
                for (int b = 0; b < scale; ++b) set(x + col * scale + a, y + row * scale + b, c);
      }
      x += 6 * scale;
    }
  }

  at::Tensor tensor() const {
    return at::from_blob(const_cast<uint8_t*>(pixels_.data()), {3, h_, w_}, at::kByte).clone();
  }

 private:
  int64_t w_, h_;
  std::vector<uint8_t> pixels_;
};

inline std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, std::abs(v) >= 100 ? "%.0f" : (std::abs(v) >= 1 ? "%.2f" : "%.3f"), v);
  return buffer;
}

}  // namespace plot_detail

/// A chart of one or more series: axes with min/max labels, a title and a legend.
inline at::Tensor line_chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series,
                             int64_t width = 480, int64_t height = 320) {
  plot_detail::Canvas canvas(width, height);
  const Rgb ink{40, 40, 40}, grid{220, 220, 220};
  const int64_t left = 56, right = width - 12, top = 28, bottom = height - 34;
  double x_min = 1e300, x_max = -1e300, y_min = 1e300, y_max = -1e300;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  if (x_min > x_max) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + 1;
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad;
  y_max += pad;
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * static_cast<double>(right - left); };
  auto py = [&](double y) { return bottom - (y - y_min) / (y_max - y_min) * static_cast<double>(bottom - top); };
  for (int k = 1; k < 4; ++k) {
    const double y = top + k * (bottom - top) / 4.0;
    canvas.line(static_cast<double>(left), y, static_cast<double>(right), y, grid);
  }
  canvas.line(static_cast<double>(left), static_cast<double>(top), static_cast<double>(left), static_cast<double>(bottom), ink);
  canvas.line(static_cast<double>(left), static_cast<double>(bottom), static_cast<double>(right), static_cast<double>(bottom), ink);
  canvas.text(left, 8, title, ink, 2);
  canvas.text(2, top, plot_detail::number(y_max), ink);
  canvas.text(2, bottom - 7, plot_detail::number(y_min), ink);
  canvas.text(left, bottom + 6, plot_detail::number(x_min), ink);
  const std::string xmax = plot_detail::number(x_max);
  canvas.text(right - 6 * static_cast<int64_t>(xmax.size()), bottom + 6, xmax, ink);
  canvas.text((left + right) / 2 - 3 * static_cast<int64_t>(x_label.size()), bottom + 18, x_label, ink);
  int64_t legend_y = top + 6;
  for (const auto& s : series) {
    for (size_t i = 1; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i - 1]) || !std::isfinite(s.y[i])) continue;
      canvas.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.color, 2);
    }
    if (s.x.size() == 1) canvas.line(px(s.x[0]), py(s.y[0]), px(s.x[0]) + 2, py(s.y[0]), s.color, 3);
    const int64_t lx = right - 6 * static_cast<int64_t>(s.name.size()) - 24;
    canvas.line(static_cast<double>(lx), static_cast<double>(legend_y + 3), static_cast<double>(lx + 14),
                static_cast<double>(legend_y + 3), s.color, 2);
    canvas.text(lx + 18, legend_y, s.name, ink);
    legend_y += 12;
  }
  return canvas.tensor();
}

}  // namespace byol_examples
