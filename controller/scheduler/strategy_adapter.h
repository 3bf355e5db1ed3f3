// The one adapter from controller/strategy (nas::strategy::Strategy and
// CreateStrategy) to the scheduler's JobStrategy seam: it turns a trial's
// metric map into the per-objective values the strategy expects.
//
// Thread-safety: the JobStrategy objects it makes are not thread-safe (see
// job_strategy.h); the factory itself is stateless and thread-safe.
#ifndef NAS_CONTROLLER_SCHEDULER_STRATEGY_ADAPTER_H_
#define NAS_CONTROLLER_SCHEDULER_STRATEGY_ADAPTER_H_

#include "controller/scheduler/job_strategy.h"

namespace nas::scheduler {

// Builds strategies with nas::strategy::CreateStrategy.
StrategyFactory DefaultStrategyFactory();

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_STRATEGY_ADAPTER_H_
