// TableEvaluator: evaluates `evaluation.table` trials by looking the
// architecture up in a tabular benchmark (a CSV file such as
// data/nb201/nb201_cifar10.csv) and returning the row's numeric columns as
// metrics, optionally after sleeping `simulated_seconds` (interruptible by
// should_stop). Lets the distributed system run thousands of trials a minute.
//
// Nb201ArchString converts a NAS-Bench-201 CellGenotype into the benchmark's
// string form. Tables are loaded once per path and cached for the evaluator's
// lifetime. Thread-safe: Evaluate may run concurrently.
#ifndef NAS_WORKER_EVAL_TABLE_EVALUATOR_H_
#define NAS_WORKER_EVAL_TABLE_EVALUATOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/nas/v1/architecture.pb.h"
#include "worker/eval/evaluator.h"
#include "worker/eval/load_once_cache.h"

namespace nas::worker {

// "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|": edges into nodes 1, 2, 3, each
// ordered by source node. Node k of `cell` is NB201 node k + 1. Edges absent
// from the genotype are written as "none". INVALID_ARGUMENT if the cell does
// not have 3 nodes or repeats a source.
absl::StatusOr<std::string> Nb201ArchString(const nas::v1::Cell& cell);

// A parsed CSV file: a header and rows of string cells.
class CsvTable {
 public:
  // NOT_FOUND if the file cannot be read; DATA_LOSS on ragged rows.
  static absl::StatusOr<std::unique_ptr<const CsvTable>> Load(
      const std::string& path);

  const std::vector<std::string>& header() const { return header_; }
  // Index of `column`, or -1.
  int ColumnIndex(const std::string& column) const;
  // The first row whose `column` equals `key`, or nullptr. Builds and caches
  // an index per column on first use (thread-safe).
  const std::vector<std::string>* Find(int column,
                                       const std::string& key) const;
  // Whether every cell of `column` parses as a number.
  bool IsNumeric(int column) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  mutable absl::Mutex mu_;
  mutable std::map<int, absl::flat_hash_map<std::string, int>> indexes_
      ABSL_GUARDED_BY(mu_);
};

class TableEvaluator : public Evaluator {
 public:
  TableEvaluator() = default;

  absl::StatusOr<EvalResult> Evaluate(const nas::v1::TrialLease& lease,
                                      const EvalCallbacks& callbacks) override;

 private:
  LoadOnceCache<CsvTable> tables_;  // By path.
};

}  // namespace nas::worker

#endif  // NAS_WORKER_EVAL_TABLE_EVALUATOR_H_
