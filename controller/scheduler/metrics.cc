#include "controller/scheduler/metrics.h"

#include <algorithm>

namespace nas::scheduler {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  return *buckets;
}

prometheus::Histogram& LatencyHistogram(prometheus::Registry& registry,
                                        const std::string& name,
                                        const std::string& help) {
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add({}, LatencyBuckets());
}

}  // namespace

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry)
    : trials_(prometheus::BuildCounter()
                  .Name("nas_trials_total")
                  .Help("Trials that entered a state, by state.")
                  .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("nas_pending_trials")
                   .Help("PENDING trials waiting for a worker, all jobs.")
                   .Register(registry)
                   .Add({})),
      lease_expirations_(prometheus::BuildCounter()
                             .Name("nas_lease_expirations_total")
                             .Help("Leases that ran out (lost workers).")
                             .Register(registry)
                             .Add({})),
      stale_reports_(prometheus::BuildCounter()
                         .Name("nas_stale_reports_total")
                         .Help("Worker reports refused as a stale attempt.")
                         .Register(registry)
                         .Add({})),
      suggest_latency_(LatencyHistogram(registry, "nas_suggest_latency_seconds",
                                        "Time of one strategy Suggest().")),
      acquire_latency_(LatencyHistogram(registry, "nas_acquire_latency_seconds",
                                        "Time of one AcquireTrial.")),
      store_latency_(prometheus::BuildHistogram()
                         .Name("nas_store_latency_seconds")
                         .Help("Time of one TrialStore call, by operation.")
                         .Register(registry)),
      trial_duration_(prometheus::BuildHistogram()
                          .Name("nas_trial_duration_seconds")
                          .Help("Lease to completion of a trial attempt, by "
                                "final state.")
                          .Register(registry)),
      best_objective_(prometheus::BuildGauge()
                          .Name("nas_best_objective")
                          .Help("Best primary objective of a job so far.")
                          .Register(registry)),
      hypervolume_(prometheus::BuildGauge()
                       .Name("nas_hypervolume")
                       .Help("Hypervolume of a two-objective job's front.")
                       .Register(registry)),
      workers_(prometheus::BuildGauge()
                   .Name("nas_workers")
                   .Help("Workers seen within the last lease period.")
                   .Register(registry)
                   .Add({})) {}

void SchedulerMetrics::CountTrials(nas::v1::TrialState state, double n) {
  trials_.Add({{"state", nas::v1::TrialState_Name(state)}}).Increment(n);
}

void SchedulerMetrics::SetPending(const std::string& job_id, int64_t pending) {
  absl::MutexLock lock(&mu_);
  pending_by_job_[job_id] = pending;
  int64_t total = 0;
  for (const auto& [job, n] : pending_by_job_) total += n;
  pending_.Set(static_cast<double>(total));
}

void SchedulerMetrics::ObserveTrialDuration(nas::v1::TrialState state,
                                            absl::Duration d) {
  // From cache hits (~0) and table lookups to day-long GPU trainings.
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.01, 0.1, 1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400};
  trial_duration_.Add({{"state", nas::v1::TrialState_Name(state)}}, *buckets)
      .Observe(std::max(0.0, absl::ToDoubleSeconds(d)));
}

void SchedulerMetrics::ObserveSuggest(absl::Duration d) {
  suggest_latency_.Observe(absl::ToDoubleSeconds(d));
}

void SchedulerMetrics::ObserveAcquire(absl::Duration d) {
  acquire_latency_.Observe(absl::ToDoubleSeconds(d));
}

void SchedulerMetrics::ObserveStore(const std::string& op, absl::Duration d) {
  store_latency_.Add({{"op", op}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(d));
}

void SchedulerMetrics::SetBestObjective(const std::string& job_id,
                                        double value) {
  best_objective_.Add({{"job", job_id}}).Set(value);
}

void SchedulerMetrics::SetHypervolume(const std::string& job_id, double value) {
  hypervolume_.Add({{"job", job_id}}).Set(value);
}

}  // namespace nas::scheduler
