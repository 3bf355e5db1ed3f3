// TrainEvaluator's "scaled_train" task (compound scaling): the lease's
// elastic genotype, usually scaled beyond the job's space, trained like any
// plain trial in the space widened to admit it, plus the scaling
// coefficients of common/task/compound_scaling_task.h as metrics.
#include "common/status_macros.h"
#include "common/task/compound_scaling_task.h"
#include "worker/eval/train_evaluator.h"

namespace nas::worker {

absl::StatusOr<EvalResult> TrainEvaluator::EvaluateScaledTrain(
    const nas::v1::TrialLease& lease, const EvalCallbacks& callbacks) {
  ASSIGN_OR_RETURN(nas::task::ScaledTrainConfig config,
                   nas::task::ParseScaledTrainConfig(lease.task_config()));
  if (!lease.search_space().has_elastic() ||
      !lease.architecture().has_elastic()) {
    return absl::InvalidArgumentError(
        "task scaled_train: needs an elastic search_space and an elastic "
        "architecture");
  }
  nas::v1::TrialLease plain = lease;
  plain.clear_task();
  plain.clear_task_config();
  ASSIGN_OR_RETURN(*plain.mutable_search_space()->mutable_elastic(),
                   nas::task::WidenedSpace(lease.search_space().elastic(),
                                           lease.architecture().elastic()));
  ASSIGN_OR_RETURN(EvalResult result, Evaluate(plain, callbacks));
  auto& m = result.metrics;
  m["alpha"] = config.coefficients.alpha;
  m["beta"] = config.coefficients.beta;
  m["gamma"] = config.coefficients.gamma;
  m["phi"] = config.phi;
  m["scale_phase"] = config.scale_phase ? 1 : 0;
  m["resolution"] = lease.architecture().elastic().resolution();
  m["width_multiplier"] = lease.architecture().elastic().width_multiplier();
  int blocks = 0;
  for (const auto& stage : lease.architecture().elastic().stages()) {
    blocks += stage.depth();
  }
  m["blocks"] = blocks;
  return result;
}

}  // namespace nas::worker
