// SVG drawings for reports and exports: scatter/line plots with axes, and
// cell diagrams of a genotype. Output is self-contained SVG markup (no
// scripts, no external fonts). Pure functions; thread-safe.
#ifndef NAS_CLI_SVG_H_
#define NAS_CLI_SVG_H_

#include <string>
#include <vector>

#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::cli {

struct Series {
  std::string name;
  std::string color;          // CSS color
  std::vector<double> x, y;
  bool line = false;          // connect points (step-free polyline)
  bool markers = true;
  double radius = 3;
};

struct Plot {
  std::string title;
  std::string x_label, y_label;
  bool log_x = false;
  int width = 560, height = 360;
  std::vector<Series> series;
};

// The plot as an <svg> element; an empty plot says "no data".
std::string RenderPlot(const Plot& plot);

// A cell as an <svg> element: inputs on the left, computed nodes left to
// right, every edge labelled and colored by its op, the output on the right.
// `title` is drawn above. For DARTS cells (space.has_darts()) the inputs are
// c_{k-2}, c_{k-1} and the output concatenates the computed nodes; for
// NAS-Bench-201 the input is node 0 and the output is the last node.
std::string RenderCell(const nas::v1::Cell& cell,
                       const nas::v1::SearchSpace& space,
                       const std::string& title);

// The same cell as a Graphviz DOT digraph.
std::string CellToDot(const nas::v1::Cell& cell,
                      const nas::v1::SearchSpace& space,
                      const std::string& name);

// Escapes &, <, >, " for XML text and attributes.
std::string XmlEscape(const std::string& s);

}  // namespace nas::cli

#endif  // NAS_CLI_SVG_H_
