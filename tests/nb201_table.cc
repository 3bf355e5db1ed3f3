#include "tests/nb201_table.h"

#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nas::testing {

Nb201Table LoadNb201Table(const std::string& path) {
  Nb201Table table;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(line), ',');
  size_t arch_column = 0;
  while (arch_column < header.size() && header[arch_column] != "arch") {
    ++arch_column;
  }
  while (std::getline(in, line)) {
    const std::vector<std::string> cells =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(line), ',');
    if (cells.size() != header.size() || arch_column == header.size()) continue;
    std::map<std::string, double>& metrics = table[cells[arch_column]];
    for (size_t i = 0; i < cells.size(); ++i) {
      double value;
      if (i != arch_column && absl::SimpleAtod(cells[i], &value)) {
        metrics[header[i]] = value;
      }
    }
  }
  return table;
}

std::string Nb201String(const nas::v1::Architecture& arch) {
  std::vector<std::string> nodes;
  for (const nas::v1::CellNode& node : arch.cell().normal().nodes()) {
    std::map<int, std::string> edges;
    for (const nas::v1::CellEdge& e : node.edges()) edges[e.input()] = e.op();
    std::string text = "|";
    for (const auto& [input, op] : edges) {
      absl::StrAppend(&text, op, "~", input, "|");
    }
    nodes.push_back(text);
  }
  return absl::StrJoin(nodes, "+");
}

}  // namespace nas::testing
