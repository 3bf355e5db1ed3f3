// Test-only: a small compound-scaling job spec shared by the driver's unit
// test and the end-to-end test. Two elastic stages (8 and 16 channels,
// stride 2, depths {1, 2}, expand ratio 3, kernel 3), resolution 16, width
// 0.5; the base is depth 1 everywhere; grid_step 0.25 and tolerance 0.15
// give the 3 grid points (1.25, 1, 1.25), (1.25, 1.25, 1), (2, 1, 1); one
// maximized `accuracy` objective; budget = 3 + max_phi. No evaluation.
#ifndef NAS_COMMON_TASK_COMPOUND_SCALING_TESTING_H_
#define NAS_COMMON_TASK_COMPOUND_SCALING_TESTING_H_

#include "proto/nas/v1/job.pb.h"

namespace nas::task::testing {

inline constexpr int kTinyGridPoints = 3;
inline constexpr double kTinyTolerance = 0.15;

inline nas::v1::JobSpec TinyScalingJob(int max_phi) {
  nas::v1::JobSpec spec;
  nas::v1::ElasticSpace* space =
      spec.mutable_search_space()->mutable_elastic();
  space->set_stem_channels(4);
  for (int channels : {8, 16}) {
    nas::v1::ElasticStage* stage = space->add_stages();
    stage->set_channels(channels);
    stage->set_stride(2);
    stage->add_depths(1);
    stage->add_depths(2);
    stage->add_expand_ratios(3);
    stage->add_kernel_sizes(3);
  }
  space->add_resolutions(16);
  space->add_width_multipliers(0.5);
  nas::v1::CompoundScaling* scaling =
      spec.mutable_strategy()->mutable_compound_scaling();
  nas::v1::ElasticGenotype* base =
      scaling->mutable_base_architecture()->mutable_elastic();
  for (int s = 0; s < 2; ++s) {
    nas::v1::ElasticStageChoice* stage = base->add_stages();
    stage->set_depth(1);
    stage->add_expand_ratios(3);
    stage->add_kernel_sizes(3);
  }
  base->set_resolution(16);
  base->set_width_multiplier(0.5);
  scaling->set_max_phi(max_phi);
  scaling->set_tolerance(kTinyTolerance);
  scaling->set_grid_step(0.25);
  nas::v1::Objective* accuracy = spec.add_objectives();
  accuracy->set_metric("accuracy");
  accuracy->set_direction(nas::v1::MAXIMIZE);
  spec.mutable_budget()->set_max_trials(kTinyGridPoints + max_phi);
  return spec;
}

}  // namespace nas::task::testing

#endif  // NAS_COMMON_TASK_COMPOUND_SCALING_TESTING_H_
