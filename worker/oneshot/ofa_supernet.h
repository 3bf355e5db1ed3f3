// OfaSupernet: the Once-for-All elastic supernet (Cai et al. 2020) of an
// elastic space: its largest network (every stage at its largest depth,
// every block at the largest expand ratio and kernel size, the largest width
// multiplier), run as any subnet of the space with weights sliced on the
// fly: a stage's first `depth` blocks, the first channels of every
// convolution and batch norm (width multiplier, expand ratio), the centred
// k x k of every depthwise kernel. ExtractSubnet builds the subnet as an
// ordinary worker/model network (the one a plain trial trains) and copies
// those slices into it, so it runs standalone with inherited weights.
//
// Progressive-shrinking training, checkpoints and recalibrated subnets are
// in ofa_train.h; the search is controller/strategy/ofa_driver.h.
// Thread-compatible (a torch Module).
#ifndef NAS_WORKER_ONESHOT_OFA_SUPERNET_H_
#define NAS_WORKER_ONESHOT_OFA_SUPERNET_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"
#include "torch/nn/module.h"
#include "torch/types.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"

namespace nas::worker {

// A batch norm's four tensors.
struct OfaBatchNorm {
  torch::Tensor weight, bias, running_mean, running_var;
};

// One inverted-residual block at its largest size.
struct OfaBlock {
  torch::Tensor expand;   // [mid_max, c_in_max, 1, 1]
  OfaBatchNorm expand_bn;
  torch::Tensor depthwise;  // [mid_max, 1, k_max, k_max]
  OfaBatchNorm depthwise_bn;
  torch::Tensor project;  // [c_out_max, mid_max, 1, 1]
  OfaBatchNorm project_bn;
  int stride = 1;
};

class OfaSupernet : public torch::nn::Module {
 public:
  // `space` as validated by controller/strategy (non-empty lists).
  // options.channels_override must be 0 (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<std::shared_ptr<OfaSupernet>> Create(
      const nas::v1::ElasticSpace& space, const NetworkOptions& options);

  // Logits of the subnet `genotype` (a point of the space; INVALID_ARGUMENT
  // naming the field otherwise) on `x`, with sliced weights. In training
  // mode the batch norms update the slices of their running statistics.
  absl::StatusOr<torch::Tensor> Forward(
      const nas::v1::ElasticGenotype& genotype, const torch::Tensor& x);

  // The subnet as a standalone network with the sliced weights and batch
  // norm statistics copied in.
  absl::StatusOr<std::shared_ptr<Network>> ExtractSubnet(
      const nas::v1::ElasticGenotype& genotype);

  // blocks()[s][b]: block b of stage s at its largest size.
  const std::vector<std::vector<OfaBlock>>& blocks() const { return blocks_; }

 private:
  OfaSupernet(const nas::v1::ElasticSpace& space,
              const NetworkOptions& options);
  OfaBatchNorm AddBatchNorm(const std::string& name, int channels);
  // The plan of `genotype` (validated against the space).
  absl::StatusOr<NetworkPlan> PlanOf(
      const nas::v1::ElasticGenotype& genotype) const;

  const nas::v1::ElasticSpace space_;
  const NetworkOptions options_;
  torch::Tensor stem_;  // [stem, in_channels, 3, 3]
  OfaBatchNorm stem_bn_;
  std::vector<std::vector<OfaBlock>> blocks_;
  torch::Tensor classifier_weight_, classifier_bias_;
};

}  // namespace nas::worker

#endif  // NAS_WORKER_ONESHOT_OFA_SUPERNET_H_
