// SchedulerMetrics: the controller's Prometheus metrics (names nas_*), kept
// low-cardinality: labels are a trial state, a store operation or a job id,
// never a trial id.
//
// The registry is shared with whoever exposes it (controller_main.cc runs the
// exposer); SchedulerMetrics registers its families on construction and keeps
// references into the registry, which must outlive it.
//
// Thread-safety: every method is thread-safe (prometheus-cpp metrics are).
#ifndef NAS_CONTROLLER_SCHEDULER_METRICS_H_
#define NAS_CONTROLLER_SCHEDULER_METRICS_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::scheduler {

class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry);

  // nas_trials_total{state}: trials that entered `state`.
  void CountTrials(nas::v1::TrialState state, double n = 1);
  // nas_pending_trials: PENDING trials over all jobs (for autoscaling).
  void SetPending(const std::string& job_id, int64_t pending);
  void IncLeaseExpirations(double n) { lease_expirations_.Increment(n); }
  void IncStaleReports() { stale_reports_.Increment(); }
  void ObserveSuggest(absl::Duration d);
  void ObserveAcquire(absl::Duration d);
  // nas_trial_duration_seconds{state}: lease to end of a completed attempt.
  void ObserveTrialDuration(nas::v1::TrialState state, absl::Duration d);
  // nas_store_latency_seconds{op}.
  void ObserveStore(const std::string& op, absl::Duration d);
  void SetBestObjective(const std::string& job_id, double value);
  void SetHypervolume(const std::string& job_id, double value);
  void SetWorkers(int64_t n) { workers_.Set(static_cast<double>(n)); }

 private:
  prometheus::Family<prometheus::Counter>& trials_;
  prometheus::Gauge& pending_;
  prometheus::Counter& lease_expirations_;
  prometheus::Counter& stale_reports_;
  prometheus::Histogram& suggest_latency_;
  prometheus::Histogram& acquire_latency_;
  prometheus::Family<prometheus::Histogram>& store_latency_;
  prometheus::Family<prometheus::Histogram>& trial_duration_;
  prometheus::Family<prometheus::Gauge>& best_objective_;
  prometheus::Family<prometheus::Gauge>& hypervolume_;
  prometheus::Gauge& workers_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> pending_by_job_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_METRICS_H_
