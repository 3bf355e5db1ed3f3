// CompoundScalingDriver: runs an EfficientNet compound-scaling job (Tan & Le
// 2019) as trials through the ordinary scheduler, on the elastic space.
// Stage 1: one trial per grid point (alpha, beta, gamma) of
// common/task/compound_scaling_task.h, each training the base genotype
// scaled by that point at phi = 1. Stage 2, once every grid trial ended: the
// point with the best reward (the job's first objective, oriented, with the
// MnasNet soft targets of the later ones; ties go to the earlier point) is
// chosen, and one trial per phi = 1..max_phi trains the base scaled by it.
// Every trial carries TrialLease.task "scaled_train" (the scaled genotype
// usually lies outside the job's space) with its coefficients and phi as
// task_config; its canonical string is "compound_scaling:<phase>;a=..;b=..;
// g=..;phi=..;" + the scaled genotype's canonical form, so a grid point and
// the phi = 1 trial of the chosen point are distinct trials.
//
// The base genotype comes from strategy.compound_scaling.base_architecture;
// base_trial_id must be resolved before the driver is created (the
// controller's CreateJob does; the driver has no store), otherwise Create
// fails with UNIMPLEMENTED naming the field.
//
// Suggest order: every grid point, UNAVAILABLE until all ended, then every
// phi, then RESOURCE_EXHAUSTED. When every grid trial failed there is no
// scaling stage (RESOURCE_EXHAUSTED). The state is all in SaveState;
// MarkSeen/ForgetSeen only validate. Thread-safety: none (see strategy.h).
#ifndef NAS_CONTROLLER_STRATEGY_COMPOUND_SCALING_DRIVER_H_
#define NAS_CONTROLLER_STRATEGY_COMPOUND_SCALING_DRIVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/task/compound_scaling_task.h"
#include "controller/strategy/objectives.h"
#include "controller/strategy/space.h"
#include "controller/strategy/strategy.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::strategy {

class CompoundScalingDriver : public Strategy {
 public:
  enum Status : int {
    kNew = 0,        // not suggested yet
    kSuggested = 1,  // suggested, no result yet
    kDone = 2,       // succeeded with objective values
    kFailed = 3,     // failed or without objective values
  };

  // `spec.strategy` must be compound_scaling over an elastic space with its
  // defaults applied (validated by common/spec); `space` is
  // Space::Create(spec.search_space()).
  static absl::StatusOr<std::unique_ptr<CompoundScalingDriver>> Create(
      const nas::v1::JobSpec& spec, std::unique_ptr<Space> space);

  absl::StatusOr<nas::v1::Architecture> Suggest() override;
  absl::Status Observe(const nas::v1::Architecture& arch,
                       const Result& result) override;
  absl::Status MarkSeen(const nas::v1::Architecture& arch) override;
  absl::Status ForgetSeen(const nas::v1::Architecture& arch) override;
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view bytes) override;
  const Space& space() const override { return *space_; }
  TrialTask Task(const nas::v1::Architecture& arch) const override;

  const std::vector<nas::task::ScalingCoefficients>& grid() const {
    return grid_;
  }
  // Index of the chosen grid point, -1 before the grid stage ended.
  int best() const { return best_; }
  // The trial architecture of grid point `index`, and of `phi` (1-based)
  // scaled by the chosen point (needs best() >= 0).
  nas::v1::Architecture GridArchitecture(int index) const;
  nas::v1::Architecture ScaleArchitecture(int phi) const;

 private:
  CompoundScalingDriver(nas::v1::ElasticGenotype base,
                        std::vector<nas::task::ScalingCoefficients> grid,
                        int max_phi, Objectives objectives,
                        std::unique_ptr<Space> space);
  nas::v1::Architecture Make(const nas::task::ScaledTrainConfig& config) const;
  // Picks best_ once no grid trial is outstanding; false if none succeeded.
  bool ChooseBest();

  const nas::v1::ElasticGenotype base_;
  const std::vector<nas::task::ScalingCoefficients> grid_;
  const int max_phi_;
  const Objectives objectives_;
  const std::unique_ptr<Space> space_;
  std::vector<Status> grid_status_;
  std::vector<double> grid_reward_;
  int best_ = -1;
  std::vector<Status> scale_status_;  // index phi - 1
};

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_COMPOUND_SCALING_DRIVER_H_
