#include "cli/svg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas::cli {
namespace {

// "Nice" tick positions covering [lo, hi].
std::vector<double> Ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string TickLabel(double v) {
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    return absl::StrFormat("%.1e", v);
  }
  return absl::StrFormat("%g", v);
}

const char* OpColor(const std::string& op) {
  static const std::map<std::string, const char*>* colors =
      new std::map<std::string, const char*>{
          {"none", "#bbbbbb"},         {"skip_connect", "#2ca02c"},
          {"sep_conv_3x3", "#1f77b4"}, {"sep_conv_5x5", "#17becf"},
          {"dil_conv_3x3", "#9467bd"}, {"dil_conv_5x5", "#e377c2"},
          {"max_pool_3x3", "#d62728"}, {"avg_pool_3x3", "#ff7f0e"},
          {"nor_conv_1x1", "#17becf"}, {"nor_conv_3x3", "#1f77b4"},
      };
  auto it = colors->find(op);
  return it == colors->end() ? "#555555" : it->second;
}

// Node names and columns of a cell's drawing.
struct CellLayout {
  int inputs = 0;                  // number of cell inputs
  std::vector<std::string> names;  // per node index (inputs first)
};

CellLayout LayoutOf(const nas::v1::Cell& cell,
                    const nas::v1::SearchSpace& space) {
  CellLayout layout;
  if (space.has_darts()) {
    layout.inputs = 2;
    layout.names = {"c_{k-2}", "c_{k-1}"};
  } else {
    layout.inputs = 1;
    layout.names = {"in"};
  }
  for (int i = 0; i < cell.nodes_size(); ++i) {
    layout.names.push_back(absl::StrCat(i + layout.inputs));
  }
  return layout;
}

}  // namespace

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderPlot(const Plot& plot) {
  const int w = plot.width, h = plot.height;
  const int left = 64, right = 16, top = 32, bottom = 48;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%d\" "
      "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
      "font-size=\"11\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
      "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
      w, h, w, h, w, h, left, XmlEscape(plot.title));
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  auto fx = [&](double x) { return plot.log_x ? std::log10(std::max(x, 1e-12)) : x; };
  for (const Series& s : plot.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, fx(s.x[i]));
      x_hi = std::max(x_hi, fx(s.x[i]));
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (!std::isfinite(x_lo)) {
    absl::StrAppend(&svg, absl::StrFormat(
                              "<text x=\"%d\" y=\"%d\" fill=\"#888\">no data</text>\n",
                              w / 2 - 20, h / 2));
    return svg + "</svg>\n";
  }
  if (x_hi == x_lo) { x_lo -= 0.5; x_hi += 0.5; }
  if (y_hi == y_lo) { y_lo -= 0.5; y_hi += 0.5; }
  const double y_pad = (y_hi - y_lo) * 0.05;
  y_lo -= y_pad;
  y_hi += y_pad;
  const double pw = w - left - right, ph = h - top - bottom;
  auto px = [&](double x) { return left + (fx(x) - x_lo) / (x_hi - x_lo) * pw; };
  auto pxr = [&](double raw) { return left + (raw - x_lo) / (x_hi - x_lo) * pw; };
  auto py = [&](double y) { return top + ph - (y - y_lo) / (y_hi - y_lo) * ph; };

  // Axes, grid and ticks.
  absl::StrAppend(&svg, absl::StrFormat(
      "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
      "stroke=\"#333\"/>\n", left, top, pw, ph));
  for (double t : Ticks(y_lo, y_hi, 5)) {
    absl::StrAppend(&svg, absl::StrFormat(
        "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
        left, left + pw, py(t), py(t), left - 4, py(t) + 4, TickLabel(t)));
  }
  std::vector<double> x_ticks = Ticks(x_lo, x_hi, 6);
  if (plot.log_x) {
    // 1, 2, 5 x 10^k inside the range (x_lo, x_hi are log10 values).
    x_ticks.clear();
    for (int k = static_cast<int>(std::floor(x_lo)); k <= std::ceil(x_hi); ++k) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double t = k + std::log10(m);
        if (t >= x_lo && t <= x_hi) x_ticks.push_back(t);
      }
    }
  }
  for (double t : x_ticks) {
    const std::string label = plot.log_x ? TickLabel(std::pow(10.0, t)) : TickLabel(t);
    absl::StrAppend(&svg, absl::StrFormat(
        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
        pxr(t), pxr(t), top, top + ph, pxr(t), top + ph + 14, label));
  }
  absl::StrAppend(&svg, absl::StrFormat(
      "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
      "<text transform=\"translate(14,%.1f) rotate(-90)\" "
      "text-anchor=\"middle\">%s</text>\n",
      left + pw / 2, h - 10, XmlEscape(plot.x_label), top + ph / 2,
      XmlEscape(plot.y_label)));

  // Series, then the legend.
  int legend_y = top + 14;
  for (const Series& s : plot.series) {
    std::string points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", px(s.x[i]), py(s.y[i])));
      if (s.markers) {
        absl::StrAppend(&svg, absl::StrFormat(
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" "
            "fill-opacity=\"0.7\"/>\n",
            px(s.x[i]), py(s.y[i]), s.radius, s.color));
      }
    }
    if (s.line && !points.empty()) {
      absl::StrAppend(&svg, absl::StrFormat(
          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
          "stroke-width=\"2\"/>\n", points, s.color));
    }
    if (!s.name.empty()) {
      absl::StrAppend(&svg, absl::StrFormat(
          "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
          "<text x=\"%.1f\" y=\"%d\">%s</text>\n",
          left + pw - 150, legend_y - 9, s.color, left + pw - 136, legend_y,
          XmlEscape(s.name)));
      legend_y += 14;
    }
  }
  return svg + "</svg>\n";
}

std::string RenderCell(const nas::v1::Cell& cell,
                       const nas::v1::SearchSpace& space,
                       const std::string& title) {
  const CellLayout layout = LayoutOf(cell, space);
  const int nodes = static_cast<int>(layout.names.size());
  const int col_w = 130, row_h = 70, box_w = 64, box_h = 28;
  const int columns = nodes - layout.inputs + 2;  // inputs, nodes, output
  const int width = columns * col_w + 20;
  const int height = std::max(2, layout.inputs) * row_h + 120;
  // Node centers: inputs stacked in column 0, computed nodes zig-zag.
  std::vector<std::pair<double, double>> at(nodes);
  for (int i = 0; i < nodes; ++i) {
    if (i < layout.inputs) {
      at[i] = {20 + box_w / 2.0, 70 + i * row_h};
    } else {
      const int k = i - layout.inputs;
      at[i] = {20 + box_w / 2.0 + (k + 1) * col_w,
               60 + ((k % 2) ? row_h * 1.2 : 0)};
    }
  }
  const std::pair<double, double> out = {20 + box_w / 2.0 + (columns - 1) * col_w,
                                         70 + row_h / 2.0};
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"cell\" width=\"%d\" "
      "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
      "font-size=\"10\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s</text>\n"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
      "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 "
      "L0,10 z\" fill=\"#444\"/></marker></defs>\n",
      width, height, width, height, width, height, XmlEscape(title));
  auto edge = [&](std::pair<double, double> a, std::pair<double, double> b,
                  const std::string& op, bool dashed) {
    const double x1 = a.first + box_w / 2.0, y1 = a.second;
    const double x2 = b.first - box_w / 2.0, y2 = b.second;
    const double cx = (x1 + x2) / 2;
    absl::StrAppend(&svg, absl::StrFormat(
        "<path d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" "
        "stroke=\"%s\" stroke-width=\"2\"%s marker-end=\"url(#arrow)\"/>\n",
        x1, y1, cx, y1, cx, y2, x2, y2, op.empty() ? "#999" : OpColor(op),
        dashed ? " stroke-dasharray=\"4,3\"" : ""));
    if (!op.empty()) {
      absl::StrAppend(&svg, absl::StrFormat(
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">%s</text>\n",
          cx, (y1 + y2) / 2 - 4, OpColor(op), XmlEscape(op)));
    }
  };
  for (int k = 0; k < cell.nodes_size(); ++k) {
    const int node = k + layout.inputs;
    for (const auto& e : cell.nodes(k).edges()) {
      if (e.input() < 0 || e.input() >= node) continue;
      edge(at[e.input()], at[node], e.op(), e.op() == "none");
    }
  }
  // Output: DARTS concatenates the computed nodes; NB201 is the last node.
  if (space.has_darts()) {
    for (int i = layout.inputs; i < nodes; ++i) edge(at[i], out, "", true);
  } else if (nodes > layout.inputs) {
    edge(at[nodes - 1], out, "", true);
  }
  auto box = [&](std::pair<double, double> c, const std::string& label,
                 const char* fill) {
    absl::StrAppend(&svg, absl::StrFormat(
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" rx=\"6\" "
        "fill=\"%s\" stroke=\"#333\"/><text x=\"%.1f\" y=\"%.1f\" "
        "text-anchor=\"middle\">%s</text>\n",
        c.first - box_w / 2.0, c.second - box_h / 2.0, box_w, box_h, fill,
        c.first, c.second + 4, XmlEscape(label)));
  };
  for (int i = 0; i < nodes; ++i) {
    box(at[i], layout.names[i], i < layout.inputs ? "#e8f0fe" : "#fff7e0");
  }
  box(out, space.has_darts() ? "concat" : "out", "#e6f4ea");
  return svg + "</svg>\n";
}

std::string CellToDot(const nas::v1::Cell& cell,
                      const nas::v1::SearchSpace& space,
                      const std::string& name) {
  const CellLayout layout = LayoutOf(cell, space);
  const int nodes = static_cast<int>(layout.names.size());
  std::string dot = absl::StrCat("digraph \"", name,
                                 "\" {\n  rankdir=LR;\n  node [shape=box, "
                                 "style=\"rounded,filled\", fillcolor=\"#fff7e0\"];\n");
  for (int i = 0; i < nodes; ++i) {
    absl::StrAppend(&dot, "  n", i, " [label=\"", layout.names[i], "\"",
                    i < layout.inputs ? ", fillcolor=\"#e8f0fe\"" : "", "];\n");
  }
  absl::StrAppend(&dot, "  out [label=\"", space.has_darts() ? "concat" : "out",
                  "\", fillcolor=\"#e6f4ea\"];\n");
  for (int k = 0; k < cell.nodes_size(); ++k) {
    for (const auto& e : cell.nodes(k).edges()) {
      absl::StrAppend(&dot, "  n", e.input(), " -> n", k + layout.inputs,
                      " [label=\"", e.op(), "\", color=\"", OpColor(e.op()),
                      "\"];\n");
    }
  }
  if (space.has_darts()) {
    for (int i = layout.inputs; i < nodes; ++i) {
      absl::StrAppend(&dot, "  n", i, " -> out [style=dashed];\n");
    }
  } else if (nodes > layout.inputs) {
    absl::StrAppend(&dot, "  n", nodes - 1, " -> out [style=dashed];\n");
  }
  return dot + "}\n";
}

}  // namespace nas::cli
