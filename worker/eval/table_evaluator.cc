#include "worker/eval/table_evaluator.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"

namespace nas::worker {
namespace {

// Poll interval of the interruptible simulated-training sleep.
constexpr absl::Duration kSleepSlice = absl::Milliseconds(20);

std::vector<std::string> SplitCsvLine(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\r");
  return absl::StrSplit(line, ',');
}

}  // namespace

absl::StatusOr<std::string> Nb201ArchString(const nas::v1::Cell& cell) {
  if (cell.nodes_size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.cell.normal: NAS-Bench-201 needs 3 nodes, got ",
        cell.nodes_size()));
  }
  std::string out;
  for (int k = 0; k < 3; ++k) {
    std::vector<std::string> ops(k + 1, "none");
    std::vector<bool> seen(k + 1, false);
    for (const auto& edge : cell.nodes(k).edges()) {
      if (edge.input() < 0 || edge.input() > k || seen[edge.input()]) {
        return absl::InvalidArgumentError(
            absl::StrCat("architecture.cell.normal.nodes[", k,
                         "]: bad or repeated input ", edge.input()));
      }
      seen[edge.input()] = true;
      ops[edge.input()] = edge.op();
    }
    if (k > 0) out += "+";
    out += "|";
    for (int i = 0; i <= k; ++i) absl::StrAppend(&out, ops[i], "~", i, "|");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<const CsvTable>> CsvTable::Load(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read table ", path));
  auto table = std::make_unique<CsvTable>();
  std::string line;
  if (!std::getline(in, line)) {
    return absl::DataLossError(absl::StrCat(path, ": empty"));
  }
  table->header_ = SplitCsvLine(line);
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::vector<std::string> row = SplitCsvLine(line);
    if (row.size() != table->header_.size()) {
      return absl::DataLossError(absl::StrCat(path, ":", n, ": ", row.size(),
                                              " cells, header has ",
                                              table->header_.size()));
    }
    table->rows_.push_back(std::move(row));
  }
  return std::unique_ptr<const CsvTable>(std::move(table));
}

int CsvTable::ColumnIndex(const std::string& column) const {
  auto it = std::find(header_.begin(), header_.end(), column);
  return it == header_.end() ? -1 : static_cast<int>(it - header_.begin());
}

const std::vector<std::string>* CsvTable::Find(int column,
                                               const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = indexes_.try_emplace(column);
  if (inserted) {
    for (int r = static_cast<int>(rows_.size()) - 1; r >= 0; --r) {
      it->second[rows_[r][column]] = r;  // Reverse order: the first row wins.
    }
  }
  auto row = it->second.find(key);
  return row == it->second.end() ? nullptr : &rows_[row->second];
}

bool CsvTable::IsNumeric(int column) const {
  double unused;
  return std::all_of(rows_.begin(), rows_.end(), [&](const auto& row) {
    return absl::SimpleAtod(row[column], &unused);
  });
}

absl::StatusOr<EvalResult> TableEvaluator::Evaluate(
    const nas::v1::TrialLease& lease, const EvalCallbacks& callbacks) {
  if (!lease.evaluation().has_table()) {
    return absl::InvalidArgumentError("evaluation: not a table evaluation");
  }
  const nas::v1::TableEvaluation& config = lease.evaluation().table();
  if (!lease.architecture().has_cell()) {
    return FailureWithReason(absl::StatusCode::kInvalidArgument,
                             kReasonUnsupported,
                             "table evaluation needs a cell architecture");
  }
  ASSIGN_OR_RETURN(std::string arch,
                   Nb201ArchString(lease.architecture().cell().normal()));
  ASSIGN_OR_RETURN(std::shared_ptr<const CsvTable> table,
                   tables_.Get(config.path(), [&]() {
                     return absl::StatusOr<std::shared_ptr<const CsvTable>>(
                         CsvTable::Load(config.path()));
                   }));
  const std::string arch_column =
      config.arch_column().empty() ? "arch" : config.arch_column();
  const int key_column = table->ColumnIndex(arch_column);
  if (key_column < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation.table.arch_column: no column '", arch_column,
                     "' in ", config.path()));
  }
  std::vector<int> columns;
  for (const std::string& name : config.metric_columns()) {
    const int c = table->ColumnIndex(name);
    if (c < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluation.table.metric_columns: no column '", name, "'"));
    }
    columns.push_back(c);
  }
  if (columns.empty()) {
    for (int c = 0; c < static_cast<int>(table->header().size()); ++c) {
      if (c != key_column && table->IsNumeric(c)) columns.push_back(c);
    }
  }
  const std::vector<std::string>* row = table->Find(key_column, arch);
  if (row == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("architecture ", arch, " is not in ", config.path()));
  }
  EvalResult result;
  for (int c : columns) {
    double value;
    if (!absl::SimpleAtod((*row)[c], &value)) {
      return absl::DataLossError(absl::StrCat(config.path(), ": column ",
                                              table->header()[c], " of ", arch,
                                              " is not a number"));
    }
    result.metrics[table->header()[c]] = value;
  }
  const absl::Time deadline =
      absl::Now() + absl::Seconds(std::max(0.0, config.simulated_seconds()));
  while (absl::Now() < deadline) {
    if (callbacks.ShouldStop()) {
      result.stopped_early = true;
      return result;
    }
    absl::SleepFor(std::min(kSleepSlice, deadline - absl::Now()));
  }
  if (callbacks.on_progress && !callbacks.on_progress(1, result.metrics)) {
    result.stopped_early = true;
  }
  return result;
}

}  // namespace nas::worker
