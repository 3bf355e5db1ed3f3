// WorkerMetrics: the nas-worker's Prometheus metrics, registered in a
// caller-owned prometheus::Registry (served by worker_main.cc over
// common/metrics_http).
//
//   nas_worker_trials_total{outcome}   trials ended, by outcome (kOutcome*)
//   nas_worker_images_per_second       last trained trial's training throughput
//   nas_worker_busy_seconds_total      wall time spent on trials
//   nas_worker_idle_seconds_total      wall time spent waiting for trials
//
// Thread-safe (prometheus-cpp metrics are atomic). The registry must outlive
// this object; the object must outlive the WorkerLoop that updates it.
#ifndef NAS_WORKER_SERVICE_WORKER_METRICS_H_
#define NAS_WORKER_SERVICE_WORKER_METRICS_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace nas::worker {

// Values of the `outcome` label.
inline constexpr char kOutcomeCompleted[] = "completed";  // Result accepted.
inline constexpr char kOutcomeFailed[] = "failed";  // FailTrial delivered.
inline constexpr char kOutcomePreempted[] = "preempted";  // Handed back.
// Lease lost, result refused, or the report could not be delivered.
inline constexpr char kOutcomeLost[] = "lost";

class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry);

  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // `outcome` is one of kOutcome*; anything else counts as kOutcomeLost.
  void TrialEnded(absl::string_view outcome);
  void SetImagesPerSecond(double images_per_second);
  void AddBusy(absl::Duration d);
  void AddIdle(absl::Duration d);

  // Current values, for tests and logs.
  double trials(absl::string_view outcome) const;
  double images_per_second() const { return images_per_second_.Value(); }
  double busy_seconds() const { return busy_seconds_.Value(); }
  double idle_seconds() const { return idle_seconds_.Value(); }

 private:
  std::map<std::string, prometheus::Counter*, std::less<>> trials_;
  prometheus::Gauge& images_per_second_;
  prometheus::Counter& busy_seconds_;
  prometheus::Counter& idle_seconds_;
};

}  // namespace nas::worker

#endif  // NAS_WORKER_SERVICE_WORKER_METRICS_H_
