#include "controller/scheduler/strategy_adapter.h"

#include <memory>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "controller/strategy/strategy.h"

namespace nas::scheduler {
namespace {

class StrategyAdapter : public JobStrategy {
 public:
  StrategyAdapter(const nas::v1::JobSpec& spec,
                  std::unique_ptr<nas::strategy::Strategy> strategy)
      : objectives_(spec.objectives()), strategy_(std::move(strategy)) {}

  absl::StatusOr<nas::v1::Architecture> Suggest() override {
    return strategy_->Suggest();
  }

  absl::Status Observe(const nas::v1::Architecture& architecture,
                       const Observation& observation) override {
    nas::strategy::Result result;
    result.failed = observation.failed;
    result.metrics = observation.metrics;
    for (const nas::v1::Objective& objective : objectives_) {
      if (result.failed) break;
      const auto it = observation.metrics.find(objective.metric());
      if (it == observation.metrics.end()) {
        // A result without an objective teaches nothing.
        result.failed = true;
        result.values.clear();
        break;
      }
      result.values.push_back(it->second);
    }
    return strategy_->Observe(architecture, result);
  }

  absl::Status MarkSeen(const nas::v1::Architecture& architecture) override {
    return strategy_->MarkSeen(architecture);
  }

  absl::Status ForgetSeen(const nas::v1::Architecture& architecture) override {
    return strategy_->ForgetSeen(architecture);
  }

  std::string SaveState() override { return strategy_->SaveState(); }

  TrialTask Task(const nas::v1::Architecture& architecture) override {
    nas::strategy::TrialTask task = strategy_->Task(architecture);
    return {std::move(task.name), std::move(task.config)};
  }

  absl::Status RestoreState(const std::string& state) override {
    return strategy_->RestoreState(state);
  }

 private:
  const google::protobuf::RepeatedPtrField<nas::v1::Objective> objectives_;
  const std::unique_ptr<nas::strategy::Strategy> strategy_;
};

}  // namespace

StrategyFactory DefaultStrategyFactory() {
  return [](const nas::v1::JobSpec& spec)
             -> absl::StatusOr<std::unique_ptr<JobStrategy>> {
    ASSIGN_OR_RETURN(std::unique_ptr<nas::strategy::Strategy> strategy,
                     nas::strategy::CreateStrategy(spec));
    return std::make_unique<StrategyAdapter>(spec, std::move(strategy));
  };
}

}  // namespace nas::scheduler
