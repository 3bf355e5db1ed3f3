// DartsDriver: runs a DARTS job (Liu et al. 2019) as trials through the
// ordinary scheduler. For each latency weight lambda of `strategy.darts` it
// issues one supernet-search trial (TrialLease.task = "darts_search", the
// Darts config with that lambda as task_config; the worker trains the
// supernet and reports alphas and the derived genotype as metrics, see
// common/task/darts_task.h), then, once that result is observed, one plain
// trial that trains the derived cell from scratch with the job's evaluation.
// A job with several lambdas yields one retrained cell per lambda: the
// accuracy-vs-latency Pareto set of latency-aware DARTS.
//
// A supernet trial's Architecture has no genotype: its canonical string is
// "darts_search:" + the task_config JSON and its hash that string's
// fingerprint, so an identical search (same config, same evaluation and
// space: the scheduler's eval key) is answered from the result cache.
//
// Suggest order: every supernet first (they can run in parallel), then the
// retrains as their searches finish; UNAVAILABLE while only searches are
// outstanding, RESOURCE_EXHAUSTED once every stage was suggested. The state
// (one status and derived genotype per lambda) is all in SaveState, so
// MarkSeen/ForgetSeen only validate. Thread-safety: none (see strategy.h).
#ifndef NAS_CONTROLLER_STRATEGY_DARTS_DRIVER_H_
#define NAS_CONTROLLER_STRATEGY_DARTS_DRIVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/strategy/space.h"
#include "controller/strategy/strategy.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::strategy {

class DartsDriver : public Strategy {
 public:
  enum Stage : int {
    kNew = 0,         // nothing suggested yet
    kSearching = 1,   // the supernet trial is suggested
    kDerived = 2,     // its genotype is known; retrain not suggested yet
    kRetraining = 3,  // the retrain trial is suggested
    kDone = 4,        // the retrain finished (or failed)
    kFailed = 5,      // the search failed: this lambda has no retrain
  };

  // `spec.strategy` must be darts over a darts space (validated by
  // common/spec); `space` is Space::Create(spec.search_space()).
  static absl::StatusOr<std::unique_ptr<DartsDriver>> Create(
      const nas::v1::JobSpec& spec, std::unique_ptr<Space> space);

  absl::StatusOr<nas::v1::Architecture> Suggest() override;
  absl::Status Observe(const nas::v1::Architecture& arch,
                       const Result& result) override;
  absl::Status MarkSeen(const nas::v1::Architecture& arch) override;
  absl::Status ForgetSeen(const nas::v1::Architecture& arch) override;
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view bytes) override;
  const Space& space() const override { return *space_; }
  TrialTask Task(const nas::v1::Architecture& arch) const override;

  // The supernet-search architecture of lambda number `index`.
  nas::v1::Architecture SearchArchitecture(int index) const;
  Stage stage(int index) const { return stages_[index].status; }

 private:
  struct StageState {
    Stage status = kNew;
    nas::v1::Architecture derived;
  };

  DartsDriver(const nas::v1::JobSpec& spec, std::unique_ptr<Space> space);

  const nas::v1::SearchSpace search_space_;
  const std::vector<std::string> ops_;
  const std::unique_ptr<Space> space_;
  // task_config per lambda.
  std::vector<std::string> configs_;
  std::vector<StageState> stages_;
};

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_DARTS_DRIVER_H_
