#include "bench/search_quality/table.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nas::bench {

absl::StatusOr<Table> Table::Parse(absl::string_view csv,
                                   absl::string_view arch_column) {
  std::vector<absl::string_view> lines = absl::StrSplit(csv, '\n');
  while (!lines.empty() && absl::StripAsciiWhitespace(lines.back()).empty()) {
    lines.pop_back();
  }
  if (lines.empty()) return absl::InvalidArgumentError("table: empty");
  std::vector<std::string> header;
  for (absl::string_view h : absl::StrSplit(lines[0], ',')) {
    header.emplace_back(absl::StripAsciiWhitespace(h));
  }
  int arch_index = -1;
  for (int i = 0; i < static_cast<int>(header.size()); ++i) {
    if (header[i] == arch_column) arch_index = i;
  }
  if (arch_index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("table: no column \"", arch_column, "\""));
  }
  Table table;
  std::vector<std::vector<double>*> columns(header.size(), nullptr);
  for (int i = 0; i < static_cast<int>(header.size()); ++i) {
    if (i != arch_index) table.columns_[header[i]];
  }
  for (int i = 0; i < static_cast<int>(header.size()); ++i) {  // No rehash now.
    if (i != arch_index) columns[i] = &table.columns_[header[i]];
  }
  for (size_t l = 1; l < lines.size(); ++l) {
    const std::vector<absl::string_view> cells = absl::StrSplit(lines[l], ',');
    if (cells.size() != header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table: line ", l + 1, " has ", cells.size(), " cells, expected ",
          header.size()));
    }
    for (size_t i = 0; i < cells.size(); ++i) {
      const absl::string_view cell = absl::StripAsciiWhitespace(cells[i]);
      if (static_cast<int>(i) == arch_index) {
        if (!table.row_of_.emplace(std::string(cell), table.num_rows()).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("table: duplicate arch on line ", l + 1));
        }
        table.archs_.emplace_back(cell);
        continue;
      }
      double v;
      columns[i]->push_back(absl::SimpleAtod(cell, &v) ? v : std::nan(""));
    }
  }
  return table;
}

absl::StatusOr<Table> Table::Load(const std::string& path,
                                  absl::string_view arch_column) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), arch_column);
}

int Table::Find(absl::string_view arch) const {
  auto it = row_of_.find(arch);
  return it == row_of_.end() ? -1 : it->second;
}

absl::StatusOr<const std::vector<double>*> Table::Column(
    absl::string_view name) const {
  auto it = columns_.find(name);
  if (it == columns_.end()) {
    return absl::NotFoundError(absl::StrCat("table: no column \"", name, "\""));
  }
  return &it->second;
}

}  // namespace nas::bench
