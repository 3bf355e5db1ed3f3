// The search-strategy interface and its factory.
//
// A Strategy proposes architectures of a job's search space (Suggest) and
// learns from their results (Observe). It is asynchronous: any number of
// suggestions may be outstanding, and results may arrive in any order (or
// never). It never hands out an architecture whose canonical hash it has
// already suggested, observed or been told of (MarkSeen). Its state,
// including the random generator but NOT the set of seen architectures,
// serializes to bytes of a size bounded by the populations (not the
// history); RestoreState plus MarkSeen of every architecture the original
// had seen (the job's trials, from the store) continues exactly as the
// original would have. Suggest, Observe and MarkSeen cost O(1) in the
// history (hash-set dedup, bounded populations).
//
// Implementations (chosen by JobSpec.strategy): random search, regularized
// evolution, REINFORCE, Pareto evolution, the DARTS driver (darts_driver.h:
// supernet search trials, then retrains of derived cells) and the compound
// scaling driver (compound_scaling_driver.h: a coefficient grid, then the
// chosen point scaled by phi = 1..K) and the Once-for-All driver
// (ofa_driver.h: a supernet training trial, then subnet searches under MAC
// and latency budgets with inherited weights). With a `target` on a secondary
// objective the single-objective strategies optimize the MnasNet reward
// primary * prod_i (value_i / target_i)^weight_i.
//
// Thread-safety: none; the caller serializes all calls on one Strategy.
#ifndef NAS_CONTROLLER_STRATEGY_STRATEGY_H_
#define NAS_CONTROLLER_STRATEGY_STRATEGY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/strategy/space.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::strategy {

// The outcome of one trial.
struct Result {
  // One value per JobSpec objective, in the spec's order (ignored if failed).
  std::vector<double> values;
  // The trial failed (no values): the architecture is never suggested again
  // and the strategy does not learn from it.
  bool failed = false;
  // Every final metric of the trial; empty when the trial itself failed
  // (`failed` is also set when only an objective is missing). Multi-stage
  // drivers such as DARTS read results that are not objectives, e.g. a
  // derived genotype.
  std::map<std::string, double> metrics;
};

// Work a worker does for a trial beyond "train this architecture"
// (TrialLease.task / task_config); empty for plain trials.
struct TrialTask {
  std::string name;
  std::string config;
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  // A new architecture with `canonical` and `hash` filled in.
  // kResourceExhausted when no unseen architecture is left (or none was found
  // after a bounded number of draws in a space too large to enumerate).
  virtual absl::StatusOr<nas::v1::Architecture> Suggest() = 0;

  // Reports the result of `arch` (normally an earlier suggestion; any member
  // of the space is accepted and marked as seen). kInvalidArgument when
  // `arch` is not in the space or `result` has too few values.
  virtual absl::Status Observe(const nas::v1::Architecture& arch,
                               const Result& result) = 0;

  // Records that `arch` was suggested or observed before (e.g. a trial in
  // the store): it is never suggested again. Only `canonical` is read when
  // set (a string hash, no canonicalization); otherwise the genotype is
  // canonicalized. kInvalidArgument when it is not in the space.
  virtual absl::Status MarkSeen(const nas::v1::Architecture& arch) = 0;
  // Undoes the MarkSeen (or the dedup record of a Suggest) of `arch`, for a
  // caller rolling back suggestions it could not persist (same input rules
  // as MarkSeen).
  virtual absl::Status ForgetSeen(const nas::v1::Architecture& arch) = 0;

  // The state as bytes, without the seen set (see above).
  virtual std::string SaveState() const = 0;
  // Replaces the state with bytes from SaveState() of a strategy created from
  // the same JobSpec; the seen set is left as it is (a fresh strategy has
  // none: MarkSeen the history). kInvalidArgument (and no change) on foreign
  // bytes.
  virtual absl::Status RestoreState(absl::string_view bytes) = 0;

  virtual const Space& space() const = 0;

  // The task of a trial whose architecture this strategy suggested (empty:
  // a plain training of the architecture).
  virtual TrialTask Task(const nas::v1::Architecture& arch) const {
    return {};
  }
};

// Builds the strategy of `spec.strategy()` over `spec.search_space()`, with
// the proto's defaults for zero fields (no strategy kind: random search; no
// objectives: one maximized objective; direction unspecified: MAXIMIZE).
// kInvalidArgument names a bad field; kUnimplemented for
// compound_scaling.base_trial_id (CreateJob resolves it first).
absl::StatusOr<std::unique_ptr<Strategy>> CreateStrategy(
    const nas::v1::JobSpec& spec);

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_STRATEGY_H_
