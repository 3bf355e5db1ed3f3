// The DARTS contract between controller and worker: the lease `task` name,
// its `task_config` (a nas.v1.Darts message as JSON with exactly one latency
// weight), and how a supernet trial reports its result through plain metrics
// (the API's only result channel): the softmax-normalized alphas of every
// edge and the derived genotype.
//
// Metric names (all doubles, so the trial store keeps them as-is):
//   alpha_<cell>_n<k>_i<j>_<op>  softmax(alpha) of `op` on the edge into
//                                intermediate node k (0-based) from node j
//                                (0, 1: cell inputs; 2..: nodes); one per
//                                epoch as a measurement and in the result.
//   derived_<cell>_n<k>_e<e>_input / _op   edge e of node k of the derived
//                                cell: its input node and its op's index in
//                                the search space's op list.
// <cell> is "normal" or "reduce". Free functions; thread-safe.
#ifndef NAS_COMMON_TASK_DARTS_TASK_H_
#define NAS_COMMON_TASK_DARTS_TASK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::task {

// TrialLease.task of a DARTS supernet search (the retrain has no task).
inline constexpr char kDartsSearch[] = "darts_search";

// The lease's task_config: `darts` with latency_weights = [latency_weight].
std::string DartsSearchConfig(const nas::v1::Darts& darts,
                              double latency_weight);
// Parses a task_config; INVALID_ARGUMENT names `task_config` when it is not
// a Darts message with exactly one latency weight.
absl::StatusOr<nas::v1::Darts> ParseDartsSearchConfig(absl::string_view json);

// "alpha_<cell>_n<node>_i<input>_<op>".
std::string AlphaMetric(absl::string_view cell, int node, int input,
                        absl::string_view op);

// Adds the derived_* metrics of `genotype` (normal and reduce) to `metrics`.
// INVALID_ARGUMENT when an op is not in `ops`.
absl::Status EncodeDerivedGenotype(const nas::v1::CellGenotype& genotype,
                                   const std::vector<std::string>& ops,
                                   std::map<std::string, double>* metrics);
// The genotype encoded by EncodeDerivedGenotype; INVALID_ARGUMENT names the
// missing or out-of-range metric.
absl::StatusOr<nas::v1::CellGenotype> DecodeDerivedGenotype(
    const std::map<std::string, double>& metrics,
    const std::vector<std::string>& ops);

}  // namespace nas::task

#endif  // NAS_COMMON_TASK_DARTS_TASK_H_
