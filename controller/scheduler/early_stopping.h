// Early stopping of running trials: the median stopping rule (Golovin et al.
// 2017) and asynchronous successive halving (ASHA, Li et al. 2020), both for
// one objective and for several (by Pareto rank).
//
// Pure logic: no clock, no storage, no threads. An EarlyStopper holds the
// learning curves of one job's trials (fed by the scheduler from
// ReportProgress, and replayed from the store after a restart) and answers
// "should this trial stop now?".
//
// Scores are objective vectors oriented so that larger is better in every
// dimension (ScoreOf negates MINIMIZE objectives). With one objective the
// Pareto rank is the dense rank by value, so both rules reduce exactly to
// their single-objective textbook form.
//
// Thread-safety: not thread-safe; the scheduler calls it under its job mutex.
#ifndef NAS_CONTROLLER_SCHEDULER_EARLY_STOPPING_H_
#define NAS_CONTROLLER_SCHEDULER_EARLY_STOPPING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/repeated_field.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::scheduler {

// An objective vector, larger is better in every dimension.
using Score = std::vector<double>;

// The score of `metrics` under `objectives`, or nullopt when a metric is
// missing or not finite.
std::optional<Score> ScoreOf(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives,
    const std::map<std::string, double>& metrics);

class EarlyStopper {
 public:
  // The stopper for `config`, or nullptr when no rule is set.
  static std::unique_ptr<EarlyStopper> Create(
      const nas::v1::EarlyStopping& config);

  virtual ~EarlyStopper() = default;

  // Records `score` of `trial_id` at `step` and decides: true = stop now.
  bool Report(int64_t trial_id, int64_t step, const Score& score);
  // The trial ended with a result (its curve now counts as completed).
  void MarkCompleted(int64_t trial_id);
  // The trial's curve is thrown away (a new attempt starts from scratch).
  void ResetCurve(int64_t trial_id);

 protected:
  struct Curve {
    std::map<int64_t, Score> by_step;
    bool completed = false;
  };
  virtual bool ShouldStop(int64_t trial_id, int64_t step) = 0;
  // Called by Report before ShouldStop.
  virtual void OnRecord(int64_t trial_id, int64_t step, const Score& score) {}

  std::map<int64_t, Curve> curves_;
};

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_EARLY_STOPPING_H_
