#include "cli/alphas.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/svg.h"
#include "common/spec/job_spec.h"
#include "common/task/darts_task.h"

namespace nas::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Reads decimal digits from the front of `s`.
bool ConsumeInt(absl::string_view* s, int* value) {
  size_t n = 0;
  while (n < s->size() && absl::ascii_isdigit((*s)[n])) ++n;
  if (n == 0 || !absl::SimpleAtoi(s->substr(0, n), value)) return false;
  s->remove_prefix(n);
  return true;
}

// "alpha_<cell>_n<k>_i<j>_<op>" -> its parts; false for any other name.
bool ParseAlphaMetric(absl::string_view name, AlphaTable::Edge* edge,
                      std::string* op) {
  if (!absl::ConsumePrefix(&name, "alpha_")) return false;
  for (const char* cell : {"normal", "reduce"}) {
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, cell) ||
        !absl::ConsumePrefix(&rest, "_n") || !ConsumeInt(&rest, &edge->node) ||
        !absl::ConsumePrefix(&rest, "_i") || !ConsumeInt(&rest, &edge->input) ||
        !absl::ConsumePrefix(&rest, "_") || rest.empty()) {
      continue;
    }
    edge->cell = cell;
    *op = std::string(rest);
    return true;
  }
  return false;
}

std::string InputName(int input) {
  if (input == 0) return "c_{k-2}";
  if (input == 1) return "c_{k-1}";
  return absl::StrCat(input);
}

std::string EdgeLabel(const AlphaTable::Edge& e) {
  return absl::StrCat(e.cell, " ", InputName(e.input), " -> ", e.node + 2);
}

// White (0) to dark blue (1).
std::string Shade(double t) {
  if (!std::isfinite(t)) return "#eeeeee";
  t = std::clamp(t, 0.0, 1.0);
  auto mix = [&](int from, int to) {
    return static_cast<int>(std::lround(from + (to - from) * t));
  };
  return absl::StrFormat("#%02x%02x%02x", mix(255, 8), mix(255, 48), mix(255, 107));
}

double MaxWeight(const AlphaTable& table) {
  double top = 0;
  for (const auto& row : table.weights) {
    for (double v : row) {
      if (std::isfinite(v)) top = std::max(top, v);
    }
  }
  return top > 0 ? top : 1;
}

// The (cell, node, input, op) chosen by `derived`.
std::set<std::tuple<std::string, int, int, std::string>> DerivedEdges(
    const nas::v1::CellGenotype* derived) {
  std::set<std::tuple<std::string, int, int, std::string>> chosen;
  if (derived == nullptr) return chosen;
  for (const char* name : {"normal", "reduce"}) {
    const nas::v1::Cell& cell =
        std::string(name) == "normal" ? derived->normal() : derived->reduce();
    for (int k = 0; k < cell.nodes_size(); ++k) {
      for (const auto& e : cell.nodes(k).edges()) {
        chosen.emplace(name, k, e.input(), e.op());
      }
    }
  }
  return chosen;
}

// The grid of `table` at (x0, y0), cell size w x h, values shaded against
// `top`; with `details` every rect carries its edge, op and value (as
// attributes and text) and derived edges are outlined.
std::string Grid(const AlphaTable& table, double x0, double y0, double w,
                 double h, double top, bool details,
                 const nas::v1::CellGenotype* derived) {
  const auto chosen = DerivedEdges(derived);
  std::string svg;
  for (size_t r = 0; r < table.edges.size(); ++r) {
    const AlphaTable::Edge& e = table.edges[r];
    for (size_t c = 0; c < table.ops.size(); ++c) {
      const double v = table.weights[r][c];
      const double x = x0 + c * w, y = y0 + r * h;
      if (!details) {
        absl::StrAppend(&svg, absl::StrFormat(
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"%s\"/>\n", x, y, w, h, Shade(v / top)));
        continue;
      }
      const bool is_derived =
          chosen.count({e.cell, e.node, e.input, table.ops[c]}) > 0;
      absl::StrAppend(&svg, absl::StrFormat(
          "<rect class=\"alpha\" data-cell=\"%s\" data-node=\"%d\" "
          "data-input=\"%d\" data-op=\"%s\" data-value=\"%.6g\" x=\"%.1f\" "
          "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
          "stroke=\"%s\" stroke-width=\"%s\"><title>%s, %s: %.4f</title></rect>"
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">"
          "%s</text>\n",
          e.cell, e.node, e.input, XmlEscape(table.ops[c]), v, x, y, w, h,
          Shade(v / top), is_derived ? "#000" : "#fff",
          is_derived ? "2" : "0.5", XmlEscape(EdgeLabel(e)),
          XmlEscape(table.ops[c]), v, x + w / 2, y + h / 2 + 4,
          v / top > 0.55 ? "#fff" : "#222",
          std::isfinite(v) ? absl::StrFormat("%.2f", v) : "-"));
    }
  }
  return svg;
}

std::string SvgOpen(const char* klass, double width, double height,
                    const std::string& title) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" width=\"%.0f\" "
      "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
      "font-size=\"10\">\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s</text>\n",
      klass, width, height, width, height, width, height, XmlEscape(title));
}

}  // namespace

std::vector<std::string> DartsOpsOf(const nas::v1::SearchSpace& space) {
  if (space.darts().ops().empty()) return nas::spec::DartsOps();
  return {space.darts().ops().begin(), space.darts().ops().end()};
}

AlphaTable AlphaTableFromMetrics(
    const google::protobuf::Map<std::string, double>& metrics,
    const std::vector<std::string>& ops) {
  // (cell order, node, input) -> op -> value.
  std::map<std::tuple<int, int, int>, std::map<std::string, double>> found;
  std::set<std::string> extra_ops;
  for (const auto& [name, value] : metrics) {
    AlphaTable::Edge edge;
    std::string op;
    if (!ParseAlphaMetric(name, &edge, &op)) continue;
    found[{edge.cell == "normal" ? 0 : 1, edge.node, edge.input}][op] = value;
    if (std::find(ops.begin(), ops.end(), op) == ops.end()) extra_ops.insert(op);
  }
  AlphaTable table;
  if (found.empty()) return table;
  table.ops = ops;
  table.ops.insert(table.ops.end(), extra_ops.begin(), extra_ops.end());
  for (const auto& [key, values] : found) {
    table.edges.push_back({std::get<0>(key) == 0 ? "normal" : "reduce",
                           std::get<1>(key), std::get<2>(key)});
    std::vector<double> row;
    for (const std::string& op : table.ops) {
      auto it = values.find(op);
      row.push_back(it == values.end() ? kNaN : it->second);
    }
    table.weights.push_back(std::move(row));
  }
  return table;
}

std::vector<std::pair<int64_t, AlphaTable>> AlphaEpochs(
    const nas::v1::Trial& trial, const std::vector<std::string>& ops) {
  std::vector<std::pair<int64_t, AlphaTable>> epochs;
  for (const auto& m : trial.measurements()) {
    AlphaTable table = AlphaTableFromMetrics(m.metrics(), ops);
    if (!table.empty()) epochs.emplace_back(m.step(), std::move(table));
  }
  std::stable_sort(epochs.begin(), epochs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (epochs.empty()) {
    AlphaTable table = AlphaTableFromMetrics(trial.metrics(), ops);
    if (!table.empty()) epochs.emplace_back(0, std::move(table));
  }
  return epochs;
}

std::string AlphasToCsv(
    const std::vector<std::pair<int64_t, AlphaTable>>& epochs) {
  std::string csv = "epoch,cell,node,input";
  if (!epochs.empty()) {
    for (const std::string& op : epochs.front().second.ops) {
      absl::StrAppend(&csv, ",", op);
    }
  }
  csv += "\n";
  for (const auto& [epoch, table] : epochs) {
    for (size_t r = 0; r < table.edges.size(); ++r) {
      const AlphaTable::Edge& e = table.edges[r];
      absl::StrAppend(&csv, epoch, ",", e.cell, ",", e.node, ",", e.input);
      for (double v : table.weights[r]) {
        absl::StrAppend(&csv, ",",
                        std::isfinite(v) ? absl::StrFormat("%.6g", v) : "");
      }
      csv += "\n";
    }
  }
  return csv;
}

std::string RenderAlphaHeatMap(const AlphaTable& table,
                               const nas::v1::CellGenotype* derived,
                               const std::string& title) {
  const double label_w = 130, w = 62, h = 18, top_y = 64;
  const double width = label_w + w * table.ops.size() + 20;
  const double height = top_y + h * table.edges.size() + 46;
  std::string svg = SvgOpen("heatmap", std::max(width, 420.0), height, title);
  if (table.empty()) {
    return svg + "<text x=\"10\" y=\"40\" fill=\"#888\">no alphas</text>\n</svg>\n";
  }
  const double top = MaxWeight(table);
  for (size_t c = 0; c < table.ops.size(); ++c) {
    absl::StrAppend(&svg, absl::StrFormat(
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">"
        "%s</text>\n", label_w + c * w + w / 2, top_y - 6,
        XmlEscape(table.ops[c])));
  }
  for (size_t r = 0; r < table.edges.size(); ++r) {
    absl::StrAppend(&svg, absl::StrFormat(
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
        label_w - 6, top_y + r * h + h / 2 + 4,
        XmlEscape(EdgeLabel(table.edges[r]))));
  }
  absl::StrAppend(&svg, Grid(table, label_w, top_y, w, h, top, true, derived));
  // Colour scale and legend.
  const double legend_y = top_y + h * table.edges.size() + 14;
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&svg, absl::StrFormat(
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>",
        label_w + i * 14, legend_y, Shade(i / 9.0)));
  }
  absl::StrAppend(&svg, absl::StrFormat(
      "\n<text x=\"%.1f\" y=\"%.1f\">softmax(alpha): 0 to %.3f%s</text>\n",
      label_w + 148, legend_y + 9, top,
      derived != nullptr ? "; outlined: the derived cell's edges" : ""));
  return svg + "</svg>\n";
}

std::string RenderAlphaEpochs(
    const std::vector<std::pair<int64_t, AlphaTable>>& epochs,
    const std::string& title) {
  const double w = 6, h = 4, gap = 18, title_h = 32, label_h = 14;
  size_t rows = 0, cols = 0;
  double top = 0;
  for (const auto& [epoch, table] : epochs) {
    rows = std::max(rows, table.edges.size());
    cols = std::max(cols, table.ops.size());
    top = std::max(top, MaxWeight(table));
  }
  const double tile_w = cols * w, tile_h = rows * h;
  const size_t per_row = std::max<size_t>(1, std::min<size_t>(epochs.size(), 10));
  const size_t lines = (epochs.size() + per_row - 1) / per_row;
  const double width = std::max(10 + per_row * (tile_w + gap), 320.0);
  const double height = title_h + lines * (tile_h + label_h + gap) + 10;
  std::string svg = SvgOpen("heatmap-epochs", width, height, title);
  for (size_t i = 0; i < epochs.size(); ++i) {
    const double x = 10 + (i % per_row) * (tile_w + gap);
    const double y = title_h + (i / per_row) * (tile_h + label_h + gap);
    absl::StrAppend(&svg, absl::StrFormat(
        "<g class=\"epoch\" data-epoch=\"%d\"><text x=\"%.1f\" y=\"%.1f\">"
        "epoch %d</text>\n", epochs[i].first, x, y + 10, epochs[i].first));
    absl::StrAppend(&svg, Grid(epochs[i].second, x, y + label_h, w, h, top,
                               false, nullptr),
                    "</g>\n");
  }
  return svg + "</svg>\n";
}

bool DerivedGenotypeOf(const nas::v1::Trial& trial,
                       const std::vector<std::string>& ops,
                       nas::v1::CellGenotype* genotype) {
  const std::map<std::string, double> metrics(trial.metrics().begin(),
                                              trial.metrics().end());
  absl::StatusOr<nas::v1::CellGenotype> decoded =
      nas::task::DecodeDerivedGenotype(metrics, ops);
  if (!decoded.ok()) return false;
  *genotype = *std::move(decoded);
  return true;
}

bool SameGenotype(const nas::v1::CellGenotype& a,
                  const nas::v1::CellGenotype& b) {
  auto edges = [](const nas::v1::Cell& cell) {
    std::vector<std::multiset<std::pair<int, std::string>>> nodes;
    for (const auto& node : cell.nodes()) {
      nodes.emplace_back();
      for (const auto& e : node.edges()) nodes.back().emplace(e.input(), e.op());
    }
    return nodes;
  };
  return edges(a.normal()) == edges(b.normal()) &&
         edges(a.reduce()) == edges(b.reduce());
}

}  // namespace nas::cli
