// Test-only: a small Once-for-All job spec shared by the driver's unit test
// and the end-to-end test. Two elastic stages (8 and 16 channels, stride 2,
// depths {1, 2}, expand ratios {2, 4}, kernels {3, 5}), stem 4, resolutions
// {20, 28}, widths {0.5, 1}; one MAC budget and one latency budget given by
// the caller; one maximized `accuracy` objective and one minimized `macs`;
// budget = 1 + 2 x subnets_per_budget. No evaluation.
#ifndef NAS_COMMON_TASK_OFA_TESTING_H_
#define NAS_COMMON_TASK_OFA_TESTING_H_

#include "proto/nas/v1/job.pb.h"

namespace nas::task::testing {

inline nas::v1::JobSpec TinyOfaJob(double mac_budget_m, double latency_ms,
                                   int subnets_per_budget) {
  nas::v1::JobSpec spec;
  nas::v1::ElasticSpace* space =
      spec.mutable_search_space()->mutable_elastic();
  space->set_stem_channels(4);
  for (int channels : {8, 16}) {
    nas::v1::ElasticStage* stage = space->add_stages();
    stage->set_channels(channels);
    stage->set_stride(2);
    for (int d : {1, 2}) stage->add_depths(d);
    for (int e : {2, 4}) stage->add_expand_ratios(e);
    for (int k : {3, 5}) stage->add_kernel_sizes(k);
  }
  space->add_resolutions(20);
  space->add_resolutions(28);
  space->add_width_multipliers(0.5);
  space->add_width_multipliers(1.0);
  nas::v1::OnceForAll* ofa = spec.mutable_strategy()->mutable_once_for_all();
  ofa->set_epochs_per_phase(1);
  ofa->add_mac_budgets_m(mac_budget_m);
  ofa->add_latency_budgets_ms(latency_ms);
  ofa->set_subnets_per_budget(subnets_per_budget);
  spec.mutable_strategy()->set_seed(3);
  nas::v1::Objective* accuracy = spec.add_objectives();
  accuracy->set_metric("accuracy");
  accuracy->set_direction(nas::v1::MAXIMIZE);
  nas::v1::Objective* macs = spec.add_objectives();
  macs->set_metric("macs");
  macs->set_direction(nas::v1::MINIMIZE);
  spec.mutable_budget()->set_max_trials(1 + 2 * subnets_per_budget);
  return spec;
}

}  // namespace nas::task::testing

#endif  // NAS_COMMON_TASK_OFA_TESTING_H_
