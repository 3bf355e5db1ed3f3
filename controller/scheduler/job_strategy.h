// JobStrategy: the scheduler's seam to the search strategy of one job.
//
// The scheduler only needs a few things from a strategy: suggestions,
// results, dedup records, and the ability to save and restore its state. This
// header names them; the one adapter to controller/strategy lives in
// strategy_adapter.{h,cc} (SchedulerOptions.strategy_factory lets a test
// substitute another).
//
// Thread-safety: a JobStrategy is NOT thread-safe; the scheduler calls it only
// while holding its job's mutex. The scheduler owns each JobStrategy it
// creates through a StrategyFactory.
#ifndef NAS_CONTROLLER_SCHEDULER_JOB_STRATEGY_H_
#define NAS_CONTROLLER_SCHEDULER_JOB_STRATEGY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::scheduler {

// Work beyond plain training that a trial's lease carries
// (TrialLease.task / task_config); empty for plain trials.
struct TrialTask {
  std::string task;
  std::string config;
};

// The result of one trial as the strategy sees it.
struct Observation {
  // Final metrics (empty when failed).
  std::map<std::string, double> metrics;
  // The trial failed for good (no result).
  bool failed = false;
};

class JobStrategy {
 public:
  virtual ~JobStrategy() = default;
  // The next architecture to evaluate, with `canonical` and `hash` filled in.
  // RESOURCE_EXHAUSTED: the space has no new architecture. UNAVAILABLE: no
  // suggestion right now (e.g. waiting for results); ask again later.
  virtual absl::StatusOr<nas::v1::Architecture> Suggest() = 0;
  // Feeds back the result of an architecture it suggested.
  virtual absl::Status Observe(const nas::v1::Architecture& architecture,
                               const Observation& observation) = 0;
  // Dedup: `architecture` (a trial of the job) is never suggested again /
  // is forgotten again (undoing the record of a Suggest whose trial was not
  // stored).
  virtual absl::Status MarkSeen(const nas::v1::Architecture& architecture) = 0;
  virtual absl::Status ForgetSeen(
      const nas::v1::Architecture& architecture) = 0;
  // Opaque bytes from which RestoreState rebuilds the exact same state, but
  // for the seen set: the bytes stay small however long the job; after
  // RestoreState the caller marks every architecture of the job's trials.
  virtual std::string SaveState() = 0;
  virtual absl::Status RestoreState(const std::string& state) = 0;
  // The task of a trial of this job (a pure function of the architecture the
  // strategy suggested, so it survives restarts). Default: none.
  virtual TrialTask Task(const nas::v1::Architecture& architecture) {
    return {};
  }
};

// Builds the strategy of a job from its (validated, defaulted) spec.
using StrategyFactory =
    std::function<absl::StatusOr<std::unique_ptr<JobStrategy>>(
        const nas::v1::JobSpec& spec)>;

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_JOB_STRATEGY_H_
