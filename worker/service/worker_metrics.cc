#include "worker/service/worker_metrics.h"

#include <algorithm>

#include "prometheus/family.h"

namespace nas::worker {

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : images_per_second_(
          prometheus::BuildGauge()
              .Name("nas_worker_images_per_second")
              .Help("Training throughput (images/s) of the last trained trial")
              .Register(registry)
              .Add({})),
      busy_seconds_(prometheus::BuildCounter()
                        .Name("nas_worker_busy_seconds_total")
                        .Help("Wall time spent evaluating and reporting trials")
                        .Register(registry)
                        .Add({})),
      idle_seconds_(prometheus::BuildCounter()
                        .Name("nas_worker_idle_seconds_total")
                        .Help("Wall time spent registering and waiting for "
                              "trials")
                        .Register(registry)
                        .Add({})) {
  auto& family = prometheus::BuildCounter()
                     .Name("nas_worker_trials_total")
                     .Help("Trials ended by this worker, by outcome")
                     .Register(registry);
  for (const char* outcome : {kOutcomeCompleted, kOutcomeFailed,
                              kOutcomePreempted, kOutcomeLost}) {
    trials_[outcome] = &family.Add({{"outcome", outcome}});
  }
}

void WorkerMetrics::TrialEnded(absl::string_view outcome) {
  auto it = trials_.find(outcome);
  (it == trials_.end() ? trials_.at(kOutcomeLost) : it->second)->Increment();
}

void WorkerMetrics::SetImagesPerSecond(double images_per_second) {
  images_per_second_.Set(images_per_second);
}

void WorkerMetrics::AddBusy(absl::Duration d) {
  busy_seconds_.Increment(std::max(0.0, absl::ToDoubleSeconds(d)));
}

void WorkerMetrics::AddIdle(absl::Duration d) {
  idle_seconds_.Increment(std::max(0.0, absl::ToDoubleSeconds(d)));
}

double WorkerMetrics::trials(absl::string_view outcome) const {
  auto it = trials_.find(outcome);
  return it == trials_.end() ? 0 : it->second->Value();
}

}  // namespace nas::worker
