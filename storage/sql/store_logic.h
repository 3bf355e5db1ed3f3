// Pure helpers shared by every TrialStore implementation: objective
// orderings, Pareto dominance, fencing and not-found messages, URL masking.
//
// No I/O and no state: thread-safe.
#ifndef NAS_STORAGE_SQL_STORE_LOGIC_H_
#define NAS_STORAGE_SQL_STORE_LOGIC_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "proto/nas/v1/job.pb.h"
#include "storage/trial_store.h"

namespace nas::storage {

// The value with "larger is better" orientation: -v for MINIMIZE.
double Goodness(double value, nas::v1::Direction direction);

// True if `p` Pareto-dominates `q`: no worse in both objectives and strictly
// better in one. Points are (metric_a, metric_b) in their own units.
bool Dominates(const std::pair<double, double>& p,
               const std::pair<double, double>& q, nas::v1::Direction da,
               nas::v1::Direction db);

// Indices of the non-dominated points, best `a` first (ties: best `b`, then
// index). Identical points are all kept. O(n log n).
std::vector<size_t> ParetoFrontIndices(
    const std::vector<std::pair<double, double>>& points,
    nas::v1::Direction da, nas::v1::Direction db);

// True if state is LEASED or RUNNING.
bool IsActive(nas::v1::TrialState state);

// FAILED_PRECONDITION for a write fenced by `ref` when the trial is at
// `current_attempt` in `current_state`, or OK if that attempt is active.
absl::Status CheckFence(const TrialRef& ref, int32_t current_attempt,
                        nas::v1::TrialState current_state);

absl::Status TrialNotFound(int64_t trial_id);
absl::Status JobNotFound(const std::string& job_id);

// `url` with any password replaced by "***" (user:pw@ and password=...).
std::string MaskPassword(const std::string& url);

}  // namespace nas::storage

#endif  // NAS_STORAGE_SQL_STORE_LOGIC_H_
