#include "controller/strategy/objectives.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nas::strategy {
namespace {

// Default exponent of the MnasNet soft target.
constexpr double kDefaultTargetWeight = -0.07;

}  // namespace

absl::StatusOr<Objectives> Objectives::Create(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& specs) {
  Objectives o;
  for (int i = 0; i < specs.size(); ++i) {
    const nas::v1::Objective& spec = specs[i];
    Rule rule;
    rule.sign = spec.direction() == nas::v1::MINIMIZE ? -1.0 : 1.0;
    if (spec.has_target()) {
      if (!(spec.target() > 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("objectives[", i, "].target: must be > 0"));
      }
      rule.target = spec.target();
      rule.weight = spec.has_weight() ? spec.weight() : kDefaultTargetWeight;
    }
    rule.has_limit = spec.has_limit();
    rule.limit = spec.limit();
    o.rules_.push_back(rule);
  }
  if (o.rules_.empty()) o.rules_.push_back(Rule{});
  return o;
}

bool Objectives::Feasible(const std::vector<double>& v) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].has_limit &&
        rules_[i].sign * v[i] < rules_[i].sign * rules_[i].limit) {
      return false;
    }
  }
  return true;
}

std::vector<double> Objectives::Oriented(const std::vector<double>& v) const {
  std::vector<double> out(rules_.size());
  for (size_t i = 0; i < rules_.size(); ++i) out[i] = rules_[i].sign * v[i];
  return out;
}

double Objectives::Reward(const std::vector<double>& v) const {
  double reward = rules_[0].sign * v[0];
  for (size_t i = 1; i < rules_.size(); ++i) {
    if (rules_[i].target <= 0) continue;
    reward *= std::pow(std::max(v[i], 0.0) / rules_[i].target, rules_[i].weight);
  }
  return reward;
}

}  // namespace nas::strategy
