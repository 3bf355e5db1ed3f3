// Table: a tabular NAS benchmark loaded from CSV (one row per architecture,
// a column of NAS-Bench-201 arch strings and any number of metric columns).
//
// Immutable after Load(); thread-compatible.
#ifndef NAS_BENCH_SEARCH_QUALITY_TABLE_H_
#define NAS_BENCH_SEARCH_QUALITY_TABLE_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nas::bench {

class Table {
 public:
  // Parses CSV text with a header line. Fields are not quoted; cells that are
  // not numbers read as NaN. kInvalidArgument on a missing arch column,
  // ragged rows or duplicate archs.
  static absl::StatusOr<Table> Parse(absl::string_view csv,
                                     absl::string_view arch_column);
  // Reads and parses the file at `path`; kNotFound if it cannot be read.
  static absl::StatusOr<Table> Load(const std::string& path,
                                    absl::string_view arch_column);

  int num_rows() const { return static_cast<int>(archs_.size()); }
  const std::string& arch(int row) const { return archs_[row]; }
  // Row of an arch string, or -1.
  int Find(absl::string_view arch) const;
  // Values of a metric column, one per row; kNotFound names the column.
  absl::StatusOr<const std::vector<double>*> Column(absl::string_view name) const;

 private:
  std::vector<std::string> archs_;
  absl::flat_hash_map<std::string, int> row_of_;
  absl::flat_hash_map<std::string, std::vector<double>> columns_;
};

}  // namespace nas::bench

#endif  // NAS_BENCH_SEARCH_QUALITY_TABLE_H_
