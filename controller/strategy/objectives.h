// Objectives: a job's objectives as the strategies use them: orientation
// (larger is better), hard limits (feasibility) and the MnasNet-style soft
// target reward (Tan et al. 2019).
//
// Immutable after Create(); thread-safe.
#ifndef NAS_CONTROLLER_STRATEGY_OBJECTIVES_H_
#define NAS_CONTROLLER_STRATEGY_OBJECTIVES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::strategy {

class Objectives {
 public:
  // Defaults: no objectives means one maximized value; an unspecified
  // direction is MAXIMIZE; a target without weight uses w = -0.07.
  // kInvalidArgument for a target <= 0.
  static absl::StatusOr<Objectives> Create(
      const google::protobuf::RepeatedPtrField<nas::v1::Objective>& specs);

  // Number of values a result carries.
  size_t size() const { return rules_.size(); }

  // False when a value is worse than its objective's hard limit.
  bool Feasible(const std::vector<double>& v) const;

  // Every value oriented so that larger is better (minimized ones negated).
  std::vector<double> Oriented(const std::vector<double>& v) const;

  // Scalar reward of the single-objective strategies: the oriented primary
  // objective times (value_i / target_i)^weight_i for every later objective
  // with a target (MnasNet: accuracy * (latency / target)^-0.07). A target
  // on the primary objective itself is ignored.
  double Reward(const std::vector<double>& v) const;

 private:
  struct Rule {
    double sign = 1.0;
    double target = 0;  // 0: no target.
    double weight = 0.0;
    bool has_limit = false;
    double limit = 0;
  };
  std::vector<Rule> rules_;
};

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_OBJECTIVES_H_
